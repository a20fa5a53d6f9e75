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
    Node,
    ParseError,
    Token,
    Unevaluable,
    evaluate,
    has_operator,
    parse_tokens,
    tokenize,
)

MAX_SCAN_CHARS = 4000  # a "step" longer than this is not a calculation; bounds the work on garbage
_ANNOTATION_RE = re.compile(r"<<([^<>]*)>>")
_EQUALS_RE = re.compile(r"=+")  # "==" is one equals sign; "<=" leaves "<" as a word-like stop


@dataclass(frozen=True)
class Equation:
    left: Node
    right: Node
    right_tokens: tuple[Token, ...]


def find_equations(text: str) -> list[Equation]:
    """The checkable equations in one step; [] when there are none. Never raises."""
    text = text[:MAX_SCAN_CHARS]
    annotations = _ANNOTATION_RE.findall(text)
    if annotations:
        return [eq for body in annotations for eq in _equations_in(body)]
    return _equations_in(text)


def _equations_in(text: str) -> list[Equation]:
    segments = [tokenize(part) for part in _EQUALS_RE.split(text)]
    found = []
    for left_tokens, right_tokens in zip(segments, segments[1:]):
        left = _longest_suffix(left_tokens)
        right = _longest_prefix(right_tokens)
        if left is None or right is None or not has_operator(left[0]):
            continue
        found.append(Equation(left[0], right[0], tuple(right[1])))
    return found


def _longest_suffix(tokens: list[Token]) -> tuple[Node, list[Token]] | None:
    start = max((i + 1 for i, t in enumerate(tokens) if t.kind == "junk"), default=0)
    for i in range(start, len(tokens)):
        parsed = _try_parse(tokens[i:])
        if parsed is not None:
            return parsed, tokens[i:]
    return None


def _longest_prefix(tokens: list[Token]) -> tuple[Node, list[Token]] | None:
    end = next((i for i, t in enumerate(tokens) if t.kind == "junk"), len(tokens))
    for j in range(end, 0, -1):
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
    if left == right or abs(left - right) <= Fraction(rel_tol) * max(abs(left), abs(right)):
        return True
    decimals = _literal_decimals(eq.right_tokens)
    if round_decimals is not None and decimals is not None and decimals <= round_decimals:
        return abs(left - right) <= Fraction(1, 2 * 10**round_decimals)
    return False


def _literal_decimals(tokens: tuple[Token, ...]) -> int | None:
    """Decimals written in a right side that is one number (possibly negative), else None."""
    if len(tokens) == 2 and tokens[0].kind == "op" and tokens[0].text == "-":
        tokens = tokens[1:]
    if len(tokens) != 1 or tokens[0].kind != "num":
        return None
    return len(tokens[0].text.partition(".")[2])
