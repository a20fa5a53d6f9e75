"""Gold SFT rows: a split's gold solutions as training rows, built by the same `sft_row` as every
selected weak or strong solution (zero-shot prompt, " " + stripped solution), with source "gold".

Two readers, each on its own split: the ceiling baseline (the strong half's gold, its only reader)
and a weak teacher fine-tuned on the weak half's gold. A problem without a solution (or with only
blank text) is dropped as "no_gold_solution": an empty completion teaches nothing but to stop.
"""
from __future__ import annotations

from collections.abc import Sequence

from w2s_ray.data.schema import Problem
from w2s_ray.select.selection import Selection, sft_row


def gold_sft(problems: Sequence[Problem]) -> Selection:
    rows = [sft_row({"problem_id": p.id, "question": p.question, "text": p.solution, "model": "gold",
                     "sample_index": 0, "level": p.level, "answer": p.gold}, "gold")
            for p in problems if p.solution and p.solution.strip()]
    return Selection(rows=rows, n_in=len(problems), kept=len(rows),
                     dropped={"no_gold_solution": len(problems) - len(rows)})
