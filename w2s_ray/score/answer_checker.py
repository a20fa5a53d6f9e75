"""answer_check: is the final answer right? (outcome correctness, accuracy, outcome error rate)

`correct` is False when there is no gold or no answer (or the comparison was refused), so sums over `correct` never count a row
as right by accident; `has_gold` lets reports drop the gold-less rows from the denominator instead
(the strong model's half of the training split has no gold by design).

How answers compare, by `style`:
  gsm8k  both parse as numbers: equal within 1e-6 (relative and absolute); else the normalised
         strings must be equal.
  math   math_verify (symbolic: \\frac{1}{2} == 0.5, 2\\sqrt{3} == \\sqrt{12}).
  auto   numbers as in gsm8k when both sides are plain numbers, math_verify otherwise.
Model output never reaches sympy unchecked, on any thread. First, symbolic_guard.refusal turns away
what could be costly (towers, factorials, sums, deep nesting, long or unprintable text): a refused
pair counts as right only if the two strings are equal, and is counted in `answer_refused`; so is a
text or answer over answers.MAX_TEXT_CHARS (a flood, not a solution: it is not searched for an
answer). Then what passes runs in a worker process under a hard deadline (symbolic_worker,
`deadline_s`, default 2 s): past it the process is killed and replaced, and the row is counted in
`answer_timed_out`, neither right nor wrong (`correct` False, as for every row not shown right).
The answer is read from the `answer` column if the batch has one, else extracted from `text` with the
scorer's `markers` (answers.DEFAULT_MARKERS unless configured).

A batch with a `capability` column mixes capabilities (data/capabilities): a row of one other than
arithmetic is checked by that capability's own checker, which parses its target format out of `text`
(the `answer` column holds what the arithmetic markers found there, nothing to compare); rows without
the column, or with it empty or "arithmetic", are checked as above.
"""
from __future__ import annotations

import math
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
from w2s_ray.text.capability_answers import check_capability_answer
from w2s_ray.score.symbolic_worker import DEFAULT_DEADLINE_S, TIMED_OUT, SymbolicPool, shared_pool

CAPABILITY_COLUMN = "capability"
ARITHMETIC = "arithmetic"  # as data/schema.ARITHMETIC (score sits below data)


def numbers_equal(a: float, b: float, tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def math_equal(gold: str, answer: str, pool: SymbolicPool | None = None) -> bool | str | None:
    """Symbolic equality via math_verify; None when the guard refuses to let sympy compare them;
    TIMED_OUT when the comparison passed the guard but did not finish within the pool's deadline.
    Any failure inside math_verify counts as not equal."""
    if gold == answer:
        return True
    if refusal(gold) or refusal(answer):
        return None
    return (pool or shared_pool()).compare(gold, answer)


def answers_match(gold: str, answer: str, style: str = "gsm8k",
                  pool: SymbolicPool | None = None) -> bool | str | None:
    """Compare two already-normalised, non-empty answers; None: refused as too costly to compare;
    TIMED_OUT: the symbolic comparison was cut at its deadline."""
    gold_value, answer_value = parse_number(gold), parse_number(answer)
    if gold_value is not None and answer_value is not None and style != "math":
        return numbers_equal(gold_value, answer_value)
    if style == "gsm8k":
        return gold == answer
    return math_equal(gold, answer, pool)


@register("answer_check")
class AnswerChecker(Scorer):
    columns = ("correct", "has_gold", "answer_refused", "answer_timed_out")
    group_by = None
    num_cpus = 0.5
    num_gpus = 0.0

    def __init__(self, *, style: Literal["gsm8k", "math", "auto"] = "gsm8k", answer_column: str = "answer",
                 text_column: str = "text", gold_column: str = "gold",
                 markers: list[str] | tuple[str, ...] = DEFAULT_MARKERS,
                 deadline_s: float = DEFAULT_DEADLINE_S):
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        if isinstance(deadline_s, bool) or not isinstance(deadline_s, (int, float)) or not 0 < deadline_s < math.inf:
            raise ValueError(f"deadline_s must be a positive number of seconds, got {deadline_s!r}")
        # Shared by every answer_check in this process; started on the first symbolic comparison.
        self.pool = shared_pool(float(deadline_s))
        self.style, self.markers = style, check_markers(markers)
        self.answer_column, self.text_column, self.gold_column = answer_column, text_column, gold_column

    def __call__(self, batch: Batch) -> Batch:
        raw_golds = column_values(batch, self.gold_column)
        # Rows of another capability are its checker's (the arithmetic comparison never sees them).
        other = [bool(c) and c != ARITHMETIC for c in column_values(batch, CAPABILITY_COLUMN)]
        golds = ["" if g is None else str(g) if o else normalize_answer(g) for g, o in zip(raw_golds, other)]
        answers, too_long = self._answers(batch)
        verdicts = [None if long else answers_match(g, a, self.style, self.pool) if g and a and not o else False
                    for g, a, long, o in zip(golds, answers, too_long, other)]
        if any(other):
            texts = column_values(batch, self.text_column)
            capabilities = column_values(batch, CAPABILITY_COLUMN)
            verdicts = [v if not o else None if isinstance(t, str) and len(t) > MAX_TEXT_CHARS  # a flood: refused
                        else check_capability_answer(c, g, t)
                        for c, g, t, v, o in zip(capabilities, raw_golds, texts, verdicts, other)]
        return {
            "correct": np.array([v is True for v in verdicts], dtype=bool),
            "has_gold": np.array([bool(g) for g in golds], dtype=bool),
            "answer_refused": np.array([v is None for v in verdicts], dtype=bool),
            "answer_timed_out": np.array([v == TIMED_OUT for v in verdicts], dtype=bool),
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
