"""A small, safe arithmetic language for checking the calculations in model-written solutions.

Model output is untrusted text, so nothing here evaluates Python: a hand-written tokenizer and a
recursive-descent parser build a tiny tree, and `evaluate` computes it with exact `Fraction`s (so
0.1 + 0.2 == 0.3 and comparison tolerances are about the writer's rounding, not binary floats).

Grammar (usual precedence, `^` right-associative and tighter than unary minus: -2^2 = -4):
    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("+" | "-") unary | power
    power   := postfix ("^" unary)?
    postfix := primary "%"*               # 20% = 0.2
    primary := NUMBER | "(" expr ")"
Spellings: * x X × · ⋅ \\times \\cdot for multiply, / ÷ \\div for divide, ** for power, − for minus.
Numbers: 12, 1,200 and 350 000 (thousands), 3.5, .5; a currency sign before a number is ignored.
As people write them in solutions (GSM8K gold does all of these, and flagging them was a false alarm):
  a tight fraction "1/3" is one number, so "25 / 1/3" is 25 / (1/3);
  mixed numbers "3 1/2", "1 and 1/3", "16 and (2/3)", "1½", "¾";
  implicit multiplication by a glued parenthesis, "2(40+9)", "(2)(3)";
  a unit glued to a number is dropped ("60g", "3kg"), but a number glued to a variable ("5A", "1.2Y",
  "3S") is not a number we can compute, and neither is a clock time with a leading zero ("0130").
An "x" counts as multiply only as a word of its own between two operands ("3 x 4", "3x4"), so "box"
and the variable in "2x + 3" are words. The en dash "–" is a minus sign.

Errors: `ParseError` (not arithmetic), `Unevaluable` (arithmetic we refuse to compute: non-integer
or huge powers), and `ZeroDivisionError`, which the step checker counts as a wrong step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_TOKENS = 200
MAX_DEPTH = 40
MAX_EXPONENT = 64
MAX_NUMBER_DIGITS = 60

_NUMBER_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d{1,3}(?: \d{3})+(?![\d/])(?:\.\d+)?"
                        r"|\d+(?:\.\d+)?|\.\d+")
# After an integer: " 1/2", " and 1/3", " and (2/3)" make a mixed number (only a proper fraction).
_MIXED_TAIL_RE = re.compile(r"(?:\s+|\s+and\s+(?:\\?\$)?)(?:(\d+)/(\d+)|\((\d+)/(\d+)\))(?![\d/.])")
# Right after a number: "1/3"; not "1/3.5", "1/2/3", "3/4^2" or "168/20%" (a power or a percent
# binds tighter than "/").
_TIGHT_FRACTION_RE = re.compile(r"/(\d+)(?![\d.,/%]|\s*(?:\^|\*\*))")
_VULGAR = {ch: Fraction(*map(int, frac.split("/"))) for ch, frac in zip(
    "¼½¾⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞", "1/4 1/2 3/4 1/3 2/3 1/5 2/5 3/5 4/5 1/6 5/6 1/8 3/8 5/8 7/8".split())}
# A number glued to one letter is a term with a variable ("5A", "3S", "2p + 12 = 70"; GSM8K gold
# writes its algebra so), except "g" (grams, "60g"); two or three letters are a unit ("3kg", "5th").
_VARIABLE_GLUE_RE = re.compile(r"(?:[A-Z]|[a-fh-z])(?![A-Za-z])")
_UNIT_GLUE_RE = re.compile(r"(?:g|[a-z]{2,3})(?![A-Za-z])")
_WORD_RE = re.compile(r"[A-Za-z_]+")
_OPERAND_START_RE = re.compile(r"\s*(?:[\d(.]|\\?\$)")
_LATEX_OPS = {"\\times": "*", "\\cdot": "*", "\\div": "/"}
_SYMBOL_OPS = {
    "**": "^", "^": "^", "+": "+", "-": "-", "−": "-", "–": "-", "*": "*", "×": "*", "·": "*", "⋅": "*",
    "/": "/", "÷": "/",
}
_CURRENCY = ("\\$", "$", "€", "£")


class ParseError(ValueError):
    """The text is not an arithmetic expression."""


class Unevaluable(ValueError):
    """Arithmetic we will not compute (e.g. 2^0.5, 10^1000)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "op", "lp", "rp", "pct", or "junk" (anything that is not arithmetic)
    text: str
    start: int
    value: Fraction | None = None


def tokenize(text: str) -> list[Token]:
    """Tokens of `text`; never raises. Words and stray symbols become "junk" tokens."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        currency = next((c for c in _CURRENCY if text.startswith(c, i)), None)
        if currency:
            i += len(currency)
            continue
        if ch in _VULGAR:
            _add_vulgar(tokens, text, i)
            i += 1
            continue
        match = _NUMBER_RE.match(text, i)
        if match:
            i = _add_number(tokens, text, match)
            continue
        if ch == "(" and tokens and tokens[-1].kind in ("num", "rp") and _end(tokens[-1]) == i:
            tokens.append(Token("op", "*", i))  # "2(40+9)", "(2)(3)": implicit multiplication
        latex = next((cmd for cmd in _LATEX_OPS if text.startswith(cmd, i)), None)
        if latex and not text[i + len(latex): i + len(latex) + 1].isalpha():
            tokens.append(Token("op", _LATEX_OPS[latex], i))
            i += len(latex)
            continue
        word = _WORD_RE.match(text, i)
        if word:
            is_times = word.group(0) in ("x", "X") and _between_operands(tokens, text, word.end())
            tokens.append(Token("op" if is_times else "junk", "*" if is_times else word.group(0), i))
            i = word.end()
            continue
        symbol = "**" if text.startswith("**", i) else ch
        if symbol in _SYMBOL_OPS:
            tokens.append(Token("op", _SYMBOL_OPS[symbol], i))
        elif ch in "()":
            tokens.append(Token("lp" if ch == "(" else "rp", ch, i))
        elif ch == "%":
            tokens.append(Token("pct", ch, i))
        else:
            tokens.append(Token("junk", ch, i))
        i += len(symbol)
    return tokens


def _end(token: Token) -> int:
    return token.start + len(token.text)


def _add_number(tokens: list[Token], text: str, match: re.Match) -> int:
    """Append the number that `match` starts (with its fraction, mixed or glued parts); its end.

    A tight fraction or a mixed number becomes a parenthesised group of real tokens, so "48/2=24" is
    still a calculation (a binary operation) and "25 / 1/3" groups as 25 / (1/3).
    """
    literal, start, end = match.group(0), match.start(), match.end()
    if len(literal) > MAX_NUMBER_DIGITS:  # not a calculation anyone checks; keeps work linear
        tokens.append(Token("junk", literal, start))
        return end
    if len(literal) > 1 and literal[0] == "0" and literal[1].isdigit():  # "0130": a clock time
        tokens.append(Token("junk", literal, start))
        return end
    group = [Token("num", literal, start, Fraction(literal.replace(",", "").replace(" ", "")))]
    fraction = _TIGHT_FRACTION_RE.match(text, end)
    after_power = bool(tokens) and tokens[-1].kind == "op" and tokens[-1].text == "^"
    if fraction and not after_power and len(fraction.group(1)) <= MAX_NUMBER_DIGITS:
        group += [Token("op", "/", end), Token("num", fraction.group(1), end + 1, Fraction(fraction.group(1)))]
        end = fraction.end()
    elif literal.isdigit():
        mixed = _MIXED_TAIL_RE.match(text, end)
        num_den = (mixed.group(1, 2) if mixed.group(1) else mixed.group(3, 4)) if mixed else None
        if num_den and 0 < int(num_den[0]) < int(num_den[1]):
            group += [Token("op", "+", end), Token("num", num_den[0], end, Fraction(num_den[0])),
                      Token("op", "/", end), Token("num", num_den[1], end, Fraction(num_den[1]))]
            end = mixed.end()
        elif end < len(text) and text[end] in _VULGAR:  # "1½"
            group += [Token("op", "+", end), Token("num", text[end], end, _VULGAR[text[end]])]
            end += 1
    if _VARIABLE_GLUE_RE.match(text, end) and not (text[end] in "xX" and _between_operands(
            group, text, end + 1)):
        tokens.append(Token("junk", text[start:end + 1], start))  # "5A": a term with a variable
        return end + 1
    if len(group) > 1:
        group = [Token("lp", "", start), *group, Token("rp", ")", end - 1)]
    tokens.extend(group)
    unit = _UNIT_GLUE_RE.match(text, end)
    if unit:
        return unit.end()  # "60g": the unit says what was counted, not what was computed
    return end


def _add_vulgar(tokens: list[Token], text: str, i: int) -> None:
    """"¾" alone, or added to an integer right before it ("1 ¾")."""
    prev = tokens[-1] if tokens else None
    vulgar = Token("num", text[i], i, _VULGAR[text[i]])
    if prev is not None and prev.kind == "num" and prev.text.isdigit() and text[_end(prev):i].isspace():
        tokens[-1:] = [Token("lp", "", prev.start), prev, Token("op", "+", i), vulgar, Token("rp", ")", i)]
    else:
        tokens.append(vulgar)


def _between_operands(tokens: list[Token], text: str, after: int) -> bool:
    """An "x" multiplies only between operands ("3 x 4", "3x(2+1)"); in "2x + 3" it is a variable."""
    follows_operand = bool(tokens) and tokens[-1].kind in ("num", "rp", "pct")
    return follows_operand and _OPERAND_START_RE.match(text, after) is not None


# A node is a small tuple: ("num", Fraction) | ("neg", node) | ("pct", node) | ("bin", op, left, right)
Node = tuple


class _Parser:
    def __init__(self, tokens: list[Token]):
        if len(tokens) > MAX_TOKENS:
            raise ParseError("expression too long")
        self.tokens, self.pos, self.depth = tokens, 0, 0

    def parse(self) -> Node:
        if not self.tokens:
            raise ParseError("empty expression")
        node = self.expr()
        if self.pos != len(self.tokens):
            raise ParseError(f"unexpected {self.tokens[self.pos].text!r}")
        return node

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take_op(self, ops: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in ops:
            self.pos += 1
            return token.text
        return None

    def expr(self) -> Node:
        node = self.term()
        while (op := self.take_op("+-")) is not None:
            node = ("bin", op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (op := self.take_op("*/")) is not None:
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:  # bounded recursion, whatever the input
            raise ParseError("nested too deeply")
        try:
            op = self.take_op("+-")
            if op is not None:
                inner = self.unary()
                return ("neg", inner) if op == "-" else inner
            return self.power()
        finally:
            self.depth -= 1

    def power(self) -> Node:
        base = self.postfix()
        if self.take_op("^") is not None:
            return ("bin", "^", base, self.unary())
        return base

    def postfix(self) -> Node:
        node = self.primary()
        while (token := self.peek()) is not None and token.kind == "pct":
            self.pos += 1
            node = ("pct", node)
        return node

    def primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise ParseError("expression ends early")
        if token.kind == "num":
            self.pos += 1
            return ("num", token.value)
        if token.kind == "lp":
            self.pos += 1
            node = self.expr()
            closing = self.peek()
            if closing is None or closing.kind != "rp":
                raise ParseError("unclosed parenthesis")
            self.pos += 1
            return node
        raise ParseError(f"unexpected {token.text!r}")


def parse_tokens(tokens: list[Token]) -> Node:
    """The tree of an arithmetic expression that uses every token; ParseError otherwise."""
    if any(t.kind == "junk" for t in tokens):
        raise ParseError("not arithmetic")
    return _Parser(tokens).parse()


def evaluate(node: Node) -> Fraction:
    """Exact value of a tree; raises ZeroDivisionError or Unevaluable."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "neg":
        return -evaluate(node[1])
    if kind == "pct":
        return evaluate(node[1]) / 100
    _, op, left, right = node
    a, b = evaluate(left), evaluate(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b  # Fraction raises ZeroDivisionError
    return _power(a, b)


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
        raise Unevaluable("non-integer or huge exponent")
    if max(base.numerator.bit_length(), base.denominator.bit_length()) > 4 * MAX_NUMBER_DIGITS:
        raise Unevaluable("base too large")
    return base ** int(exponent)


def has_operator(node: Node) -> bool:
    """True if the expression computes something (a binary operation), not just states a number."""
    if node[0] == "bin":
        return True
    if node[0] in ("neg", "pct"):
        return has_operator(node[1])
    return False


def has_percent(node: Node) -> bool:
    """True if a percent sign applies anywhere in the expression."""
    if node[0] == "pct":
        return True
    if node[0] == "neg":
        return has_percent(node[1])
    if node[0] == "bin":
        return has_percent(node[2]) or has_percent(node[3])
    return False

