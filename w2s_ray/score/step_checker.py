"""step_check: recompute the arithmetic of every solution step (step-wise error rate, He et al. 2024).

Steps are the non-blank lines before the first "####" (or, with `step_sep="blank_line"`, the
paragraphs, as in the MATH format of Sun et al. 2024). A step with no equation still counts as a step
but is not checkable, so `step_error_rate = n_wrong_steps / n_steps` is a lower bound on the true step
error: prose reasoning errors are invisible to arithmetic. `n_checkable_steps` says how much of a
solution was actually checked; report it next to the rate. `n_refused_steps` counts the steps left
unchecked because they were over the bounds (too many steps, a line too long): never silently passed.

A step is wrong if any of its equations is wrong (see equations.py for what counts as an equation and
as equal). Model text is never executed: arithmetic goes through arith.py's parser.
"""
from __future__ import annotations

import re
from typing import Literal

import numpy as np

from w2s_ray.score.base import Batch, Scorer, object_column, register, require_column
from w2s_ray.score.equations import MAX_SCAN_CHARS, check_equation, find_equations
from w2s_ray.text.answers import MAX_TEXT_CHARS
from w2s_ray.text.steps import split_steps  # noqa: F401 - where the stages read it from too

STEP_SEPS = ("line", "blank_line")
MAX_STEPS = 200  # GSM8K gold has at most ~10 steps, MATH a few dozen; more is a flood, not reasoning
# List markers would otherwise read as a unary minus: "- 14 + 6 = 20" is a bullet, not -14 + 6.
_BULLET_RE = re.compile(r"^\s*(?:[-*•]\s+)")


def check_steps(text: str | None, step_sep: str = "line", rel_tol: float = 1e-6,
                round_decimals: int | None = 2) -> dict:
    """Per-solution step statistics; never raises on any string, linear in its length.

    Steps past MAX_STEPS, steps with a line over MAX_SCAN_CHARS, and every line of a text over
    answers.MAX_TEXT_CHARS are not checked but counted in `n_refused_steps`: a flood of lines or one
    huge line costs a bounded amount, and says so.
    """
    if text is not None and len(text) > MAX_TEXT_CHARS:  # a flood: count its lines, check none
        n_lines = text.count("\n") + 1
        return {"n_steps": n_lines, "n_wrong_steps": 0, "step_error_rate": 0.0, "wrong_steps": [],
                "n_checkable_steps": 0, "n_refused_steps": n_lines}
    steps = split_steps(text, step_sep)
    wrong, checkable, refused = [], 0, max(0, len(steps) - MAX_STEPS)
    for index, step in enumerate(steps[:MAX_STEPS]):
        lines = step.split("\n")
        if any(len(line) > MAX_SCAN_CHARS for line in lines):
            refused += 1
            continue
        verdicts = [
            check_equation(eq, rel_tol, round_decimals)
            for line in lines
            for eq in find_equations(_BULLET_RE.sub("", line))
        ]
        verdicts = [v for v in verdicts if v is not None]
        if verdicts:
            checkable += 1
            if not all(verdicts):
                wrong.append(index)
    return {
        "n_steps": len(steps),
        "n_wrong_steps": len(wrong),
        "step_error_rate": len(wrong) / len(steps) if steps else 0.0,
        "wrong_steps": wrong,
        "n_checkable_steps": checkable,
        "n_refused_steps": refused,
    }


@register("step_check")
class StepChecker(Scorer):
    columns = ("n_steps", "n_wrong_steps", "step_error_rate", "wrong_steps", "n_checkable_steps",
               "n_refused_steps")
    group_by = None
    num_cpus = 0.5
    num_gpus = 0.0

    def __init__(self, *, text_column: str = "text", step_sep: Literal["line", "blank_line"] = "line",
                 rel_tol: float = 1e-6,
                 round_decimals: int | None = 2):
        if step_sep not in STEP_SEPS:
            raise ValueError(f"step_sep must be one of {STEP_SEPS}, got {step_sep!r}")
        self.text_column, self.step_sep = text_column, step_sep
        self.rel_tol, self.round_decimals = rel_tol, round_decimals

    def __call__(self, batch: Batch) -> Batch:
        texts = require_column(batch, self.text_column, self.name)
        stats = [
            check_steps(t if isinstance(t, str) else None, self.step_sep, self.rel_tol,
                        self.round_decimals)
            for t in texts
        ]
        return {
            "n_steps": np.array([s["n_steps"] for s in stats], dtype=np.int64),
            "n_wrong_steps": np.array([s["n_wrong_steps"] for s in stats], dtype=np.int64),
            "step_error_rate": np.array([s["step_error_rate"] for s in stats], dtype=np.float64),
            "wrong_steps": object_column(s["wrong_steps"] for s in stats),
            "n_checkable_steps": np.array([s["n_checkable_steps"] for s in stats], dtype=np.int64),
            "n_refused_steps": np.array([s["n_refused_steps"] for s in stats], dtype=np.int64),
        }
