"""Final-answer extraction and normalisation, shared by Generate, Score, Select and Eval.

Two formats exist in this system:
  GSM8K style  step lines, then a line "#### N" (or a sentence "The answer is N").
  MATH style   the final answer inside the last \\boxed{...}.

There is deliberately NO fallback to "the last number in the text": a model that never states an
answer would still be scored right whenever its last intermediate number happens to match, which
inflates accuracy and, worse, lets the consistency filter keep pairs that never agreed on an answer.
An unstated answer is "" and counts as wrong everywhere.

`extract_answer` returns the normalised answer by default, so the `answer` column of every stage can
be compared with `==` and with the normalised `gold` of the problem schema.
"""
from __future__ import annotations

import re
from typing import Literal

Style = Literal["gsm8k", "math", "auto"]
STYLES = ("gsm8k", "math", "auto")

# A number as people write it: optional sign and currency, thousands commas, decimals, a fraction.
_NUMBER_RE = re.compile(r"[-+−]?\s*(?:\\?\$\s*)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+|(?=\.\d))(?:\.\d+)?(?:/\d+)?")
_ANSWER_IS_RE = re.compile(r"\bthe\s+(?:final\s+)?answer\s+is\s*:?\s*", re.IGNORECASE)
_BOX_OPENERS = ("\\boxed{", "\\fbox{")
_PLAIN_NUMBER_RE = re.compile(r"^(-?)(\d*)(?:\.(\d*))?$")
_THOUSANDS_COMMA_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def extract_answer(text: str | None, style: Style = "gsm8k", normalize: bool = True) -> str:
    """The final answer stated in `text`, or "" when it states none.

    gsm8k: the number right after the first "####" (same line); without "####", the number right
           after the first "The answer is". Anything else there (a word, LaTeX, a line break) gives "".
    math:  the content of the last \\boxed{...} (or \\fbox{...}), braces matched by hand.
    auto:  "####" if present, else the last \\boxed{}, else "The answer is N".
    """
    if style not in STYLES:
        raise ValueError(f"unknown answer style {style!r}; expected one of {STYLES}")
    if not text:
        return ""
    if style == "math":
        raw = last_boxed(text)
    elif style == "gsm8k":
        raw = _gsm8k_answer(text)
    else:
        raw = _hash_answer(text) if "####" in text else (last_boxed(text) or _answer_is(text))
    return normalize_answer(raw) if normalize else raw.strip()


def _gsm8k_answer(text: str) -> str:
    return _hash_answer(text) if "####" in text else _answer_is(text)


def _hash_answer(text: str) -> str:
    line = text.split("####", 1)[1].split("\n", 1)[0]
    return _leading_number(line)


def _answer_is(text: str) -> str:
    match = _ANSWER_IS_RE.search(text)
    if not match:
        return ""
    return _leading_number(text[match.end():].split("\n", 1)[0])


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

    Strips "$" (also "\\$"), thousands commas, whitespace that separates nothing, a trailing ".",
    and writes plain numbers canonically: "20.0" -> "20", "1,000" -> "1000", "-0" -> "0",
    ".5" -> "0.5". Non-numeric answers (LaTeX) keep their commas between non-thousands groups,
    so "(1,2)" stays a pair, and keep a space between two letters ("\\pi r" must not become "\\pir").
    """
    if answer is None:
        return ""
    s = str(answer).replace("\\$", "").replace("$", "").replace("−", "-")
    s = _THOUSANDS_COMMA_RE.sub("", s)
    s = " ".join(s.split())
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
