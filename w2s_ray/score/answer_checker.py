"""answer_check: is the final answer right? (outcome correctness, accuracy, outcome error rate)

`correct` is False when there is no gold or no answer, so sums over `correct` never count a row
as right by accident; `has_gold` lets reports drop the gold-less rows from the denominator instead
(the strong model's half of the training split has no gold by design).

How answers compare, by `style`:
  gsm8k  both parse as numbers: equal within 1e-6 (relative and absolute); else the normalised
         strings must be equal.
  math   math_verify (symbolic: \\frac{1}{2} == 0.5, 2\\sqrt{3} == \\sqrt{12}).
  auto   numbers as in gsm8k when both sides are plain numbers, math_verify otherwise.
Answers longer than MAX_SYMBOLIC_CHARS are compared as strings (no sympy on runaway text).
The answer is read from the `answer` column if the batch has one, else extracted from `text`.
"""
from __future__ import annotations

import logging
import math
import threading

import numpy as np

from w2s_ray.score.answers import STYLES, extract_answer, normalize_answer, parse_number
from w2s_ray.score.base import Batch, Scorer, column_values, register, require_column

MAX_SYMBOLIC_CHARS = 200


def numbers_equal(a: float, b: float, tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def math_equal(gold: str, answer: str) -> bool:
    """Symbolic equality via math_verify; any failure inside it counts as not equal."""
    from math_verify import parse, verify  # imported here: sympy import costs ~1 s

    # math_verify times out with SIGALRM, which only the main thread may set; Ray Data actors run
    # batches on other threads, where we give up the timeout rather than crash. Sympy can then stall
    # on a pathological expression, so long answers (never a real final answer) skip sympy.
    if max(len(gold), len(answer)) > MAX_SYMBOLIC_CHARS:
        return gold == answer
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    if timeout is None:
        for name in ("math_verify.parser", "math_verify.grader"):  # one warning per call otherwise
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        gold_parsed = parse(f"${gold}$", parsing_timeout=timeout)
        answer_parsed = parse(f"${answer}$", parsing_timeout=timeout)
        return bool(gold_parsed and answer_parsed and verify(gold_parsed, answer_parsed,
                                                             timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - a checker must not crash a whole batch on one odd answer
        return False


def answers_match(gold: str, answer: str, style: str = "gsm8k") -> bool:
    """Compare two already-normalised, non-empty answers."""
    gold_value, answer_value = parse_number(gold), parse_number(answer)
    if gold_value is not None and answer_value is not None and style != "math":
        return numbers_equal(gold_value, answer_value)
    if style == "gsm8k":
        return gold == answer
    return math_equal(gold, answer)


@register("answer_check")
class AnswerChecker(Scorer):
    columns = ("correct", "has_gold")
    group_by = None
    num_cpus = 0.5
    num_gpus = 0.0

    def __init__(self, *, style: str = "gsm8k", answer_column: str = "answer",
                 text_column: str = "text", gold_column: str = "gold"):
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.style = style
        self.answer_column, self.text_column, self.gold_column = answer_column, text_column, gold_column

    def __call__(self, batch: Batch) -> Batch:
        golds = [normalize_answer(g) if g is not None else "" for g in
                 column_values(batch, self.gold_column)]
        answers = self._answers(batch)
        correct = [bool(g and a and answers_match(g, a, self.style)) for g, a in zip(golds, answers)]
        return {
            "correct": np.array(correct, dtype=bool),
            "has_gold": np.array([bool(g) for g in golds], dtype=bool),
        }

    def _answers(self, batch: Batch) -> list[str]:
        if self.answer_column in batch:
            return [normalize_answer(a) if a is not None else "" for a in
                    column_values(batch, self.answer_column)]
        texts = require_column(batch, self.text_column, self.name)
        return [extract_answer(t if isinstance(t, str) else None, self.style) for t in texts]
