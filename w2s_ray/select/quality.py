"""How good a selection is, measured against gold: for reports only, never for selecting.

This is the number behind the consistency filter's claim (Yang et al. 2024: ~90% of kept answers
right while the weak model alone was right on 41-66%). It lives apart from the selection functions
so that gold labels have exactly one reader in this package.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from w2s_ray.text.answers import normalize_answer


def selection_quality(selection_rows: Sequence[dict], gold_by_problem: Mapping[str, str | None]) -> dict:
    """Share of selected rows whose answer equals the gold answer, overall and per source model.

    Rows whose problem has no gold are left out of the share (counted as `rows_without_gold`).
    An empty answer counts as wrong, as everywhere else in the system. `accuracy` is None when no
    row has gold. `outcome_error_rate` is 1 - accuracy (METHODS.md's name for it).
    """
    overall = _Tally()
    by_source: dict[str, _Tally] = {}
    for row in selection_rows:
        gold = normalize_answer(gold_by_problem.get(row["problem_id"]))
        tally = by_source.setdefault(row["source_model"], _Tally())
        for t in (overall, tally):
            t.add(gold, normalize_answer(row.get("answer")))
    return {**overall.report(), "by_source": {m: t.report() for m, t in sorted(by_source.items())}}


class _Tally:
    def __init__(self):
        self.rows = self.with_gold = self.correct = 0

    def add(self, gold: str, answer: str) -> None:
        self.rows += 1
        if gold:
            self.with_gold += 1
            self.correct += bool(answer) and answer == gold

    def report(self) -> dict:
        accuracy = self.correct / self.with_gold if self.with_gold else None
        return {
            "rows": self.rows, "rows_with_gold": self.with_gold, "rows_without_gold": self.rows - self.with_gold,
            "correct": self.correct, "accuracy": accuracy,
            "outcome_error_rate": None if accuracy is None else 1.0 - accuracy,
        }
