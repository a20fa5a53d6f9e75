"""Final-answer extraction and normalisation, shared by Generate, Score, Select and Eval.

Two formats exist in this system:
  GSM8K style  step lines, then a line "#### N" (or a sentence "The answer is N", or a line "A: N").
  MATH style   the final answer inside the last \\boxed{...}.

The phrases that introduce a final answer are *markers* (DEFAULT_MARKERS, configurable per run as
`answer_markers`): literal, case-insensitive text, or "^text" for text that must open a line. They
are literals, not regexes, so a configured marker cannot make extraction slow on hostile text.

There is deliberately NO fallback to "the last number in the text": a model that never states an
answer would still be scored right whenever its last intermediate number happens to match, which
inflates accuracy and, worse, lets the consistency filter keep pairs that never agreed on an answer.
An unstated answer is "" and counts as wrong everywhere.

`extract_answer` returns the normalised answer by default, so the `answer` column of every stage can
be compared with `==` and with the normalised `gold` of the problem schema.
"""
from __future__ import annotations

import functools
import re
from typing import Literal

Style = Literal["gsm8k", "math", "auto"]
STYLES = ("gsm8k", "math", "auto")

# A number as people write it: optional sign and currency, thousands commas, decimals, a fraction.
_NUMBER_RE = re.compile(r"[-+−]?\s*(?:\\?\$\s*)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+|(?=\.\d))(?:\.\d+)?(?:/\d+)?")
DEFAULT_MARKERS = ("####", "the final answer is", "the answer is", "^final answer:", "^answer:", "^a:")
MAX_MARKER_CHARS = 40
# A completion longer than this (a generation is ~8 KB at 2048 tokens) is a flood, not a solution:
# it states no answer, and answer_check counts it as refused. Keeps every search below ~10 ms.
MAX_TEXT_CHARS = 1 << 16
_BOX_OPENERS = ("\\boxed{", "\\fbox{")
_PLAIN_NUMBER_RE = re.compile(r"^(-?)(\d*)(?:\.(\d*))?$")
# Thousands commas are stripped only from a whole answer that is one grouped number: inside a tuple
# or an interval a comma separates ("(1,234)" is a pair, not 1234; "(0,100)" is "(0, 100)").
_GROUPED_NUMBER_RE = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def check_markers(markers) -> tuple[str, ...]:
    """Validated final-answer markers (ValueError naming the bad one)."""
    markers = tuple(markers)
    if not markers:
        raise ValueError("answer markers: at least one is needed")
    for marker in markers:
        if not isinstance(marker, str) or not marker.lstrip("^").strip() or len(marker) > MAX_MARKER_CHARS:
            raise ValueError(f"answer marker {marker!r}: a non-empty string of at most {MAX_MARKER_CHARS} chars")
    return markers


def extract_answer(text: str | None, style: Style = "gsm8k", normalize: bool = True,
                   markers: tuple[str, ...] | list[str] = DEFAULT_MARKERS) -> str:
    """The final answer stated in `text`, or "" when it states none.

    gsm8k: the number right after the first marker found, in the order of `markers` (same line; by
           default "####", "The final answer is", "The answer is", a line opening "Answer:" or "A:").
           Anything else there (a word, LaTeX, a line break) gives "".
    math:  the content of the last \\boxed{...} (or \\fbox{...}), braces matched by hand; without
           one, a number after a marker as in gsm8k.
    auto:  "####" if present, else the last \\boxed{}, else the other markers.
    A text over MAX_TEXT_CHARS states no answer.
    """
    if style not in STYLES:
        raise ValueError(f"unknown answer style {style!r}; expected one of {STYLES}")
    if not text or len(text) > MAX_TEXT_CHARS:
        return ""
    if style == "math":
        raw = last_boxed(text) or _after_markers(text, markers)
    elif style == "gsm8k":
        raw = _after_markers(text, markers)
    else:
        raw = (_after_markers(text, ("####",)) if "####" in text and "####" in markers else "") \
            or last_boxed(text) or _after_markers(text, markers)
    return normalize_answer(raw) if normalize else raw.strip()


def _after_markers(text: str, markers) -> str:
    for marker in markers:
        match = _marker_re(marker).search(text)
        if match:
            line = text[match.end():].split("\n", 1)[0]
            return _leading_number(line.lstrip().removeprefix(":"))
    return ""


@functools.lru_cache(maxsize=64)
def _marker_re(marker: str) -> re.Pattern:
    """A literal (escaped) pattern: matching stays linear in the text, whatever the marker."""
    if marker.startswith("^"):
        return re.compile(r"^[ \t*]*" + re.escape(marker[1:]), re.IGNORECASE | re.MULTILINE)
    return re.compile(re.escape(marker), re.IGNORECASE)


def _leading_number(line: str) -> str:
    """The number that opens the line ("15 apples" -> "15"); GSM8K answers are numbers, so a line
    that opens with a word or LaTeX ("about 15", "\\frac12") gives "" rather than a stray digit."""
    match = _NUMBER_RE.match(line.lstrip().lstrip("*").lstrip())  # "**15**": markdown bold
    return match.group(0).strip() if match and any(ch.isdigit() for ch in match.group(0)) else ""


def last_boxed(text: str) -> str:
    """Content of the last \\boxed{...}, with nested braces matched; "" if none or unbalanced."""
    start = max(text.rfind(opener) for opener in _BOX_OPENERS)
    if start < 0:
        return ""
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text):
        ch = text[i]
        if ch == "\\":  # an escaped brace \{ is content, not structure
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i].strip()
        i += 1
    return ""


def normalize_answer(answer: str | None) -> str:
    """Canonical string for an answer, so that equal numbers compare equal as strings.

    Strips "$" (also "\\$"), thousands commas of a whole number, whitespace that separates nothing,
    a trailing ".", and writes plain numbers canonically: "20.0" -> "20", "1,000" -> "1000",
    "-0" -> "0", ".5" -> "0.5". Anything else keeps its commas ("(1,234)" stays a pair, and equals
    "(1, 234)"), and a space between two letters ("\\pi r" must not become "\\pir").
    """
    if answer is None:
        return ""
    s = str(answer).replace("\\$", "").replace("$", "").replace("−", "-")
    s = " ".join(s.split())
    if _GROUPED_NUMBER_RE.fullmatch(s.replace(" ", "")):
        s = s.replace(",", "")
    s = re.sub(r"(?<![A-Za-z]) | (?![A-Za-z])", "", s)
    s = s.rstrip(".")
    return _canonical_number(s)


def _canonical_number(s: str) -> str:
    """Plain decimal numbers only; anything else comes back unchanged."""
    candidate = s[1:] if s.startswith("+") else s
    match = _PLAIN_NUMBER_RE.match(candidate)
    if not match or not (match.group(2) or match.group(3)):
        return s
    sign, whole, frac = match.group(1), match.group(2).lstrip("0") or "0", (match.group(3) or "").rstrip("0")
    body = f"{whole}.{frac}" if frac else whole
    return "0" if body == "0" else sign + body


def parse_number(s: str | None) -> float | None:
    """The value of a normalised plain number or simple fraction "a/b"; None for anything else."""
    if not s:
        return None
    s = normalize_answer(s)
    numerator, slash, denominator = s.partition("/")
    try:
        value = float(numerator)
        if slash:
            value /= float(denominator)
    except (ValueError, ZeroDivisionError):
        return None
    if value != value or value in (float("inf"), float("-inf")):  # "nan", "inf" are words here
        return None
    return value
