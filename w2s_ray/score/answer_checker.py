"""answer_check: is the final answer right? (outcome correctness, accuracy, outcome error rate)

`correct` is False when there is no gold or no answer (or the comparison was refused), so sums over `correct` never count a row
as right by accident; `has_gold` lets reports drop the gold-less rows from the denominator instead
(the strong model's half of the training split has no gold by design).

How answers compare, by `style`:
  gsm8k  both parse as numbers: equal within 1e-6 (relative and absolute); else the normalised
         strings must be equal.
  math   math_verify (symbolic: \\frac{1}{2} == 0.5, 2\\sqrt{3} == \\sqrt{12}).
  auto   numbers as in gsm8k when both sides are plain numbers, math_verify otherwise.
Model output never reaches sympy unchecked: symbolic_guard.refusal turns away what could be costly
(towers, factorials, sums, deep nesting, long or unprintable text) on every thread. A refused pair
counts as right only if the two strings are equal, and is counted in `answer_refused`; so is a text
or answer over answers.MAX_TEXT_CHARS (a flood, not a solution: it is not searched for an answer).
The answer is read from the `answer` column if the batch has one, else extracted from `text` with the
scorer's `markers` (answers.DEFAULT_MARKERS unless configured).
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Literal

import numpy as np

from w2s_ray.text.answers import (
    DEFAULT_MARKERS,
    MAX_TEXT_CHARS,
    STYLES,
    check_markers,
    extract_answer,
    normalize_answer,
    parse_number,
)
from w2s_ray.score.base import Batch, Scorer, column_values, register, require_column
from w2s_ray.score.symbolic_guard import refusal

def numbers_equal(a: float, b: float, tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def math_equal(gold: str, answer: str) -> bool | None:
    """Symbolic equality via math_verify; None when the guard refuses to let sympy compare them.
    Any failure inside math_verify counts as not equal."""
    if gold == answer:
        return True
    if refusal(gold) or refusal(answer):
        return None
    from math_verify import LatexExtractionConfig, parse, verify  # imported here: sympy costs ~1 s

    # math_verify times out with SIGALRM, which only the main thread may set; elsewhere the guard
    # above is the bound. Its plain-expression extractor goes through sympy's parse_expr (eval):
    # LaTeX extraction only, so no model text is ever handed to eval.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    if timeout is None:
        for name in ("math_verify.parser", "math_verify.grader"):  # one warning per call otherwise
            logging.getLogger(name).setLevel(logging.ERROR)
    config = [LatexExtractionConfig()]
    try:
        gold_parsed = parse(f"${gold}$", extraction_config=config, parsing_timeout=timeout)
        answer_parsed = parse(f"${answer}$", extraction_config=config, parsing_timeout=timeout)
        return bool(gold_parsed and answer_parsed and verify(gold_parsed, answer_parsed,
                                                             timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - a checker must not crash a whole batch on one odd answer
        return False


def answers_match(gold: str, answer: str, style: str = "gsm8k") -> bool | None:
    """Compare two already-normalised, non-empty answers; None: refused as too costly to compare."""
    gold_value, answer_value = parse_number(gold), parse_number(answer)
    if gold_value is not None and answer_value is not None and style != "math":
        return numbers_equal(gold_value, answer_value)
    if style == "gsm8k":
        return gold == answer
    return math_equal(gold, answer)


@register("answer_check")
class AnswerChecker(Scorer):
    columns = ("correct", "has_gold", "answer_refused")
    group_by = None
    num_cpus = 0.5
    num_gpus = 0.0

    def __init__(self, *, style: Literal["gsm8k", "math", "auto"] = "gsm8k", answer_column: str = "answer",
                 text_column: str = "text", gold_column: str = "gold",
                 markers: list[str] | tuple[str, ...] = DEFAULT_MARKERS):
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.style, self.markers = style, check_markers(markers)
        self.answer_column, self.text_column, self.gold_column = answer_column, text_column, gold_column

    def __call__(self, batch: Batch) -> Batch:
        golds = [normalize_answer(g) if g is not None else "" for g in
                 column_values(batch, self.gold_column)]
        answers, too_long = self._answers(batch)
        verdicts = [None if long else answers_match(g, a, self.style) if g and a else False
                    for g, a, long in zip(golds, answers, too_long)]
        return {
            "correct": np.array([v is True for v in verdicts], dtype=bool),
            "has_gold": np.array([bool(g) for g in golds], dtype=bool),
            "answer_refused": np.array([v is None for v in verdicts], dtype=bool),
        }

    def _answers(self, batch: Batch) -> tuple[list[str], list[bool]]:
        """Normalised answers, and which rows were refused for being over MAX_TEXT_CHARS."""
        if self.answer_column in batch:
            raw = [a if isinstance(a, str) else "" for a in column_values(batch, self.answer_column)]
            too_long = [len(a) > MAX_TEXT_CHARS for a in raw]
            return [normalize_answer(a) if not long else "" for a, long in zip(raw, too_long)], too_long
        texts = [t if isinstance(t, str) else None for t in require_column(batch, self.text_column, self.name)]
        too_long = [t is not None and len(t) > MAX_TEXT_CHARS for t in texts]
        return [extract_answer(t, self.style, markers=self.markers) for t in texts], too_long
