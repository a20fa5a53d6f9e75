"""Which answers may go to sympy (through math_verify): only what it can compare cheaply.

Model output is untrusted, and sympy evaluates eagerly: a 20-character `10^{10^{10}}` froze a
scorer for minutes. math_verify's own timeout uses SIGALRM, which only the main thread may set, and
Ray Data runs scorer batches on other threads, where nothing could interrupt sympy (it holds the GIL).
So there are two bounds. This module is the cheap first line and holds on any thread: before sympy
sees an answer, `refusal` rejects whatever is known to be costly to evaluate, in time linear in the
answer's length:

  longer than MAX_SYMBOLIC_CHARS; a character that is not printable (NUL, lone surrogates, bidi
  controls); brackets nested deeper than MAX_NESTING; a digit run longer than MAX_DIGITS or an
  e-notation exponent of more than MAX_EXPONENT_DIGITS digits; more than
  MAX_POWERS powers; a power whose exponent holds another power (a tower) or a number of more than
  MAX_EXPONENT_DIGITS digits; a factorial; a command that sums, multiplies, integrates or
  takes a limit over a range (\\sum, \\prod, \\int, \\lim, \\binom, \\Gamma, ...).

A refused comparison is not scored as a match (unless the two strings are equal) and is counted:
answer_check writes it to its `answer_refused` column. What passes the rule is compared in a worker
process under a hard deadline (symbolic_worker), the second line, for what the rule did not foresee.
"""
from __future__ import annotations

import re

MAX_SYMBOLIC_CHARS = 200
MAX_NESTING = 8
MAX_DIGITS = 40
MAX_POWERS = 4
MAX_EXPONENT_DIGITS = 2
_HEAVY_COMMAND_RE = re.compile(
    r"\\(?:prod|sum|int|iint|iiint|oint|lim|limsup|liminf|binom|dbinom|tbinom|choose|Gamma|gamma|zeta"
    r"|operatorname|mathop|det|max|min|gcd|lcm)(?![A-Za-z])")
_DIGIT_RUN_RE = re.compile(r"\d{%d,}" % (MAX_DIGITS + 1))
_BIG_E_NOTATION_RE = re.compile(r"\d[eE][-+]?\d{%d,}" % (MAX_EXPONENT_DIGITS + 1))  # 1e999999
_OPEN, _CLOSE = "{([", "})]"


def refusal(expr: str) -> str | None:
    """Why `expr` must not reach sympy, or None when it may."""
    if len(expr) > MAX_SYMBOLIC_CHARS:
        return "too long"
    if not expr.isprintable():
        return "unprintable character"
    if "!" in expr:
        return "factorial"
    if _HEAVY_COMMAND_RE.search(expr):
        return "sum, product, integral or limit"
    if _DIGIT_RUN_RE.search(expr) or _BIG_E_NOTATION_RE.search(expr):
        return "huge number"
    depth = 0
    for ch in expr:
        depth += (ch in _OPEN) - (ch in _CLOSE)
        if depth > MAX_NESTING:
            return "nested too deeply"
    powers = [m.end() for m in re.finditer(r"\^|\*\*", expr)]
    if len(powers) > MAX_POWERS:
        return "too many powers"
    for start in powers:
        exponent, end = _exponent(expr, start)
        tower = re.match(r"\s*(?:\^|\*\*)", expr[end:]) is not None  # "9^9^9", "10**10**10"
        if tower or "^" in exponent or "**" in exponent or re.search(r"\d{%d,}" % (MAX_EXPONENT_DIGITS + 1), exponent):
            return "tower or huge exponent"
    return None


def _exponent(expr: str, start: int) -> tuple[str, int]:
    """The exponent written at `start` (a {group}, a (group), a \\command, a number or a letter)
    and where it ends."""
    i = start
    while i < len(expr) and expr[i].isspace():
        i += 1
    if expr[i:i + 1] in ("{", "("):
        opener, closer, depth = expr[i], "}" if expr[i] == "{" else ")", 0
        for j in range(i, len(expr)):
            depth += (expr[j] == opener) - (expr[j] == closer)
            if depth == 0:
                return expr[i + 1:j], j + 1
        return expr[i:], len(expr)
    match = re.compile(r"-?(?:\\[A-Za-z]+|\d+(?:\.\d+)?|[A-Za-z])").match(expr, i)
    return (match.group(0), match.end()) if match else ("", i)
