"""How a solution is cut into steps: one split for the step checker, step labels and the PRM, so a
step's index means the same in `wrong_steps`, in a label row and in `step_scores`.

Steps are the non-blank lines before the first "####" (or, with `step_sep="blank_line"`, the
paragraphs, as in the MATH format of Sun et al. 2024). What stands before "####" on its own line is
a step too: "b = 1 + 1 = 2 #### 2" states a step and the answer, and dropping the step would hide a
wrong one from the step checker and the PRM.
"""
from __future__ import annotations

import re

_BLANK_LINE_RE = re.compile(r"\n\s*\n")


def split_steps(text: str | None, step_sep: str = "line") -> list[str]:
    """The steps of a solution: what comes before the first "####", split into non-blank parts."""
    if not text:
        return []
    body = text.split("####", 1)[0]
    parts = _BLANK_LINE_RE.split(body) if step_sep == "blank_line" else body.split("\n")
    return [part.strip() for part in parts if part.strip()]
