"""How a solution is cut into steps: one split for the step checker, step labels and the PRM, so a
step's index means the same in `wrong_steps`, in a label row and in `step_scores`.

Steps are the non-blank lines before the first "####" (or, with `step_sep="blank_line"`, the
paragraphs, as in the MATH format of Sun et al. 2024). What stands before "####" on its own line is
a step too: "b = 1 + 1 = 2 #### 2" states a step and the answer, and dropping the step would hide a
wrong one from the step checker and the PRM.

The final-answer step ("#### 19") is not one of them (the step checker has nothing to recompute in
it); `solution_steps` appends it after them where a PRM labels and scores it (Sun et al. 2024: the
PRM800K step that holds "# Answer" is a rated step), so the indices of the others stay the checker's.
"""
from __future__ import annotations

import re

_BLANK_LINE_RE = re.compile(r"\n\s*\n")
# What ends a step in a text written in each format: split_steps cuts at these, join_steps writes them.
STEP_SEPARATORS = {"line": "\n", "blank_line": "\n\n"}


def split_steps(text: str | None, step_sep: str = "line") -> list[str]:
    """The steps of a solution: what comes before the first "####", split into non-blank parts."""
    if not text:
        return []
    body = text.split("####", 1)[0]
    parts = _BLANK_LINE_RE.split(body) if step_sep == "blank_line" else body.split("\n")
    return [part.strip() for part in parts if part.strip()]


def answer_step(text: str | None) -> str | None:
    """The final-answer step: "####" and the answer on its line; None without an answer."""
    if not text or "####" not in text:
        return None
    answer = text.split("####", 1)[1].strip().split("\n", 1)[0].strip()
    return f"#### {answer}" if answer else None


def solution_steps(text: str | None, step_sep: str = "line", with_answer: bool = False) -> list[str]:
    """split_steps, then (with_answer) the answer step. A text without a reasoning step gets none:
    a bare "#### 7" has no work to score, and must not rank on its answer line alone."""
    steps = split_steps(text, step_sep)
    answer = answer_step(text) if with_answer and steps else None
    return steps + [answer] if answer else steps


def join_steps(steps: list[str], step_sep: str = "line") -> str:
    """Steps as a solution's text in the format they were split from, each ended by its separator, so
    a model continuing the text starts a new step and split_steps gives the same steps back."""
    sep = STEP_SEPARATORS[step_sep]
    return "".join(step.strip() + sep for step in steps)
