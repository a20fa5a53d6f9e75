"""Finding the calculations written in one solution step, and checking them.

Where equations come from, in order of trust:
  1. GSM8K calculator annotations "<<48/2=24>>": if a step has any, only they are checked (the prose
     around them repeats the same calculation: "48/2 = <<48/2=24>>24 clips").
  2. Otherwise every "=" in the text: its left side is the longest arithmetic expression that ends at
     the "=" (after the last word or stray symbol), its right side the longest one that starts after
     it. So "She pays $1,200 / 4 = $300 each" checks 1200/4 against 300, and a chain
     "3 * 4 + 2 = 12 + 2 = 14" checks 3*4+2 = 12+2 and 12+2 = 14.

An equation is checked only if its left side computes something (has a binary operator): "Day 2 = 5 + 5"
is a label, not a claim that 2 equals 10, and "x = 5" or "2x + 3 = 7" are algebra we do not solve.
"=" is read as mathematical equality, so a run-on "3 * 4 = 12 + 2 = 14" is wrong (12 is not 14).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from w2s_ray.score.arith import (
    MAX_TOKENS,
    Node,
    ParseError,
    Token,
    Unevaluable,
    evaluate,
    has_operator,
    has_percent,
    parse_tokens,
    tokenize,
)

MAX_SCAN_CHARS = 4000  # a line longer than this is not a calculation; the step checker refuses it
_ANNOTATION_RE = re.compile(r"<<([^<>]*)>>")
# Sides tried per "=": a real left side parses at its first or second candidate start (after a stray
# "(" at most); more would make the work per equation grow with the line.
MAX_ATTEMPTS = 16
SIDE_CHARS = 1000  # more than MAX_TOKENS tokens of any real calculation
_DECIMAL_RE = re.compile(r"[\d, ]*(?:\.\d+)?")
_EQUALS_RE = re.compile(r"=+")  # "==" is one equals sign; "<=" leaves "<" as a word-like stop


@dataclass(frozen=True)
class Equation:
    left: Node
    right: Node
    right_tokens: tuple[Token, ...]


def find_equations(text: str) -> list[Equation]:
    """The checkable equations in one line; [] when there are none. Never raises; linear time.

    Callers refuse lines over MAX_SCAN_CHARS (a cut line could end mid-expression and read wrong);
    this only guards the work if one slips through.
    """
    text = text[:MAX_SCAN_CHARS]
    annotations = _ANNOTATION_RE.findall(text)
    if annotations:
        return [eq for body in annotations for eq in _equations_in(body)]
    return _equations_in(text)


def _equations_in(text: str) -> list[Equation]:
    parts = _EQUALS_RE.split(text)
    found = []
    for left_text, right_text in zip(parts, parts[1:]):
        left = _longest_suffix(_side_tokens(left_text, at_end=True))
        right = _longest_prefix(_side_tokens(right_text, at_end=False))
        if left is None or right is None or not has_operator(left[0]):
            continue
        found.append(Equation(left[0], right[0], tuple(right[1])))
    return found


def _side_tokens(text: str, at_end: bool) -> list[Token]:
    """Tokens of the SIDE_CHARS next to the "=": a side is never longer, so the rest of a long
    segment is not worth tokenizing. The token at the cut may be a fragment: it becomes junk."""
    if len(text) <= SIDE_CHARS:
        return tokenize(text)
    tokens = tokenize(text[-SIDE_CHARS:] if at_end else text[:SIDE_CHARS])
    if tokens:
        cut = 0 if at_end else -1
        tokens[cut] = Token("junk", tokens[cut].text, tokens[cut].start)
    return tokens


def _longest_suffix(tokens: list[Token]) -> tuple[Node, list[Token]] | None:
    start = max((i + 1 for i, t in enumerate(tokens) if t.kind == "junk"), default=0)
    # A longer expression never parses (MAX_TOKENS), so the scan is linear in the segment's length.
    start = max(start, len(tokens) - MAX_TOKENS)
    starts = [i for i in range(start, len(tokens)) if _may_start(tokens, i)]
    for i in starts[:MAX_ATTEMPTS]:
        parsed = _try_parse(tokens[i:])
        if parsed is not None:
            return parsed, tokens[i:]
    return None


def _may_start(tokens: list[Token], i: int) -> bool:
    """Whether a left side may start at token i, rather than being cut out of a larger expression.

    "(X+10)*3/2 = 45" must not be read as 3/2 = 45, nor "M + 4 + 2 = 8" as +4+2 = 8: an operand
    right before the start, or a variable before a leading operator, makes the equation algebra.
    """
    if i == 0:
        return True
    prev, first = tokens[i - 1], tokens[i]
    if prev.kind == "op":
        return False
    if prev.kind == "junk":
        return not (first.kind == "op" and prev.text[:1].isalnum())
    if prev.kind in ("num", "rp", "pct"):
        return first.kind != "op"
    return True


def _longest_prefix(tokens: list[Token]) -> tuple[Node, list[Token]] | None:
    end = next((i for i, t in enumerate(tokens) if t.kind == "junk"), len(tokens))
    end = min(end, MAX_TOKENS)
    # "= 30 + M": a cut right before an operator is inside an expression
    ends = [j for j in range(end, 0, -1) if j == len(tokens) or tokens[j].kind != "op"]
    for j in ends[:MAX_ATTEMPTS]:
        parsed = _try_parse(tokens[:j])
        if parsed is not None:
            return parsed, tokens[:j]
    return None


def _try_parse(tokens: list[Token]) -> Node | None:
    try:
        return parse_tokens(tokens)
    except ParseError:
        return None


def check_equation(eq: Equation, rel_tol: float = 1e-6, round_decimals: int | None = 2) -> bool | None:
    """True if the equation holds, False if it does not, None if we cannot compute it.

    Holds: equal within `rel_tol` (relative), or the right side is a number written with at most
    `round_decimals` decimals and equals the left side rounded to that many (GSM8K money: 10/3 = 3.33).
    Division by zero anywhere makes the equation wrong: the writer claimed a value that does not exist.
    """
    try:
        left, right = evaluate(eq.left), evaluate(eq.right)
    except ZeroDivisionError:
        return False
    except Unevaluable:
        return None
    if _close(left, right, rel_tol, eq.right_tokens, round_decimals):
        return True
    # A percent sign on one side only is a label: "0.25 * 100 = 25%", "20% of 300 = 60" is read
    # elsewhere; here the two sides may differ by exactly that factor of 100.
    left_pct, right_pct = has_percent(eq.left), has_percent(eq.right)
    if left_pct != right_pct:
        scaled = right * 100 if right_pct else right / 100
        return _close(left, scaled, rel_tol, (), None)
    return False


def _close(left: Fraction, right: Fraction, rel_tol: float, right_tokens: tuple[Token, ...],
           round_decimals: int | None) -> bool:
    if left == right or abs(left - right) <= Fraction(rel_tol) * max(abs(left), abs(right)):
        return True
    decimals = _literal_decimals(right_tokens)
    if round_decimals is None or decimals is None:
        return False
    written, percents = decimals
    if percents:  # "33.333%" is written to 3 decimals of a percent, so to 5 of its value
        return written <= round_decimals + 2 and abs(left - right) <= Fraction(1, 2 * 10 ** (written + 2 * percents))
    return written <= round_decimals and abs(left - right) <= Fraction(1, 2 * 10**round_decimals)


def _literal_decimals(tokens: tuple[Token, ...]) -> tuple[int, int] | None:
    """(decimals written, percent signs) of a right side that is one decimal number (possibly
    negative, possibly "N%"), else None: a fraction or an expression is compared exactly."""
    tokens = tokens[1:] if tokens and tokens[0].kind == "op" and tokens[0].text == "-" else tokens
    percents = 0
    while tokens and tokens[-1].kind == "pct":
        tokens, percents = tokens[:-1], percents + 1
    if len(tokens) != 1 or tokens[0].kind != "num" or not _DECIMAL_RE.fullmatch(tokens[0].text):
        return None
    return len(tokens[0].text.partition(".")[2]), percents
