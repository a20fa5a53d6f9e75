"""Bootstrap intervals of PGR over test problems."""
from __future__ import annotations

import pytest

from w2s_ray.eval.pgr_interval import pgr_interval


def _scores(n_right: int, n: int = 100) -> dict[str, float]:
    return {f"p{i:03d}": float(i < n_right) for i in range(n)}


def test_point_estimate_is_the_plain_pgr_and_the_interval_holds_it():
    weak, ceiling, model = _scores(20), _scores(80), _scores(50)
    out = pgr_interval(model, weak, ceiling)
    assert out["pgr"] == pytest.approx(0.5) and out["problems"] == 100
    assert out["low"] < 0.5 < out["high"] and out["undefined"] == 0
    assert out == pgr_interval(model, weak, ceiling)  # seeded: the same interval every time


def test_more_problems_narrow_the_interval():
    small = pgr_interval(_scores(5, 20), _scores(2, 20), _scores(14, 20))
    large = pgr_interval(_scores(25, 100), _scores(10, 100), _scores(70, 100))
    assert (large["high"] - large["low"]) < (small["high"] - small["low"])


def test_draws_without_a_gap_are_counted_not_hidden():
    same = _scores(30)
    out = pgr_interval(_scores(40), same, same)
    assert out["pgr"] is None and out["undefined"] == out["draws"] and out["low"] is None


def test_only_shared_problems_count():
    assert pgr_interval({"a": 1.0}, {"b": 0.0}, {"c": 1.0}) is None
