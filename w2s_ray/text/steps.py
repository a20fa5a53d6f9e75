"""How a solution is cut into steps: one split for the step checker, step labels and the PRM, so a
step's index means the same in `wrong_steps`, in a label row and in `step_scores`.

Steps are the non-blank lines before the first "####" line (or, with `step_sep="blank_line"`, the
paragraphs, as in the MATH format of Sun et al. 2024).
"""
from __future__ import annotations

import re

_BLANK_LINE_RE = re.compile(r"\n\s*\n")


def split_steps(text: str | None, step_sep: str = "line") -> list[str]:
    """The steps of a solution: what comes before the first "####" line, split into non-blank parts."""
    if not text:
        return []
    body = text.split("####", 1)[0]
    if "####" in text:  # the "####" line itself is the answer, not a step
        body = body.rsplit("\n", 1)[0] if "\n" in body else ""
    parts = _BLANK_LINE_RE.split(body) if step_sep == "blank_line" else body.split("\n")
    return [part.strip() for part in parts if part.strip()]
