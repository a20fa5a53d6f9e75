"""selection_quality: share of selected answers right against gold, for reports."""
from __future__ import annotations

import pytest

from w2s_ray.select import selection_quality


def row(pid, answer, source="weak"):
    return {"problem_id": pid, "answer": answer, "source_model": source}


def test_share_of_rows_matching_gold_overall_and_by_source():
    rows = [row("a", "7"), row("a", "7", "strong"), row("b", "3"), row("b", "3", "strong"),
            row("c", "", "strong"), row("d", "5")]
    q = selection_quality(rows, {"a": "7", "b": "4", "c": "1", "d": None})
    assert (q["rows"], q["rows_with_gold"], q["rows_without_gold"], q["correct"]) == (6, 5, 1, 2)
    assert q["accuracy"] == pytest.approx(0.4) and q["outcome_error_rate"] == pytest.approx(0.6)
    assert q["by_source"]["strong"]["accuracy"] == pytest.approx(1 / 3)
    assert q["by_source"]["weak"]["rows_with_gold"] == 2


def test_gold_compared_after_normalisation_and_none_when_no_gold():
    assert selection_quality([row("a", "1000")], {"a": "1,000.0"})["accuracy"] == 1.0
    assert selection_quality([row("a", "1")], {})["accuracy"] is None
    assert selection_quality([], {})["rows"] == 0
