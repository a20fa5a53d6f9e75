"""PGR against the authors' computation (Burns et al. 2023, github:openai/weak-to-strong at
6b450f2cee3714d6f886e5e1910bac73633bf69a, notebooks/Plotting.ipynb, the cell starting at file line 82:
`valid_pgr_index` at lines 93-97, the PGR formula at line 98). Their code is not vendored: `_authors_pgr`
re-implements those lines on plain numbers (a row of their data frame: the transfer model's accuracy,
the weak and strong ground-truth models' accuracies and sizes)."""
from __future__ import annotations

import math
import random

import pytest

from w2s_ray.eval.pgr_interval import pgr_interval
from w2s_ray.eval.report import pgr


def _authors_pgr(accuracy, weak_model_accuracy, strong_model_accuracy, weak_model_size, model_size):
    # Plotting.ipynb l.93-97: a row gets a PGR only when it is a transfer run (a weak model size),
    # the weak and strong sizes differ, and the strong model beats the weak one; otherwise NaN.
    valid_pgr_index = (weak_model_size is not None and weak_model_size != model_size
                       and strong_model_accuracy > weak_model_accuracy)
    if not valid_pgr_index:
        return math.nan
    # l.98
    return (accuracy - weak_model_accuracy) / (strong_model_accuracy - weak_model_accuracy)


CASES = [(0.62, 0.40, 0.80), (0.40, 0.40, 0.80), (0.30, 0.40, 0.80), (0.90, 0.40, 0.80),
         (0.5, 0.6, 0.6), (0.5, 0.7, 0.6), (0.55, 0.5, 0.5000001)]


@pytest.mark.parametrize("acc, weak, ceiling", CASES)
def test_pgr_is_the_authors_including_where_it_is_undefined(acc, weak, ceiling):
    theirs = _authors_pgr(acc, weak, ceiling, weak_model_size="small", model_size="large")
    ours = pgr(acc, weak, ceiling)
    if math.isnan(theirs):
        assert ours is None
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_pgr_on_random_accuracies_matches_and_the_bootstrap_centre_is_it():
    rng = random.Random(3)
    for _ in range(200):
        acc, weak, ceiling = (round(rng.random(), 3) for _ in range(3))
        theirs = _authors_pgr(acc, weak, ceiling, "w", "s")
        ours = pgr(acc, weak, ceiling)
        assert (ours is None) == math.isnan(theirs)
        if ours is not None:
            assert ours == pytest.approx(theirs, abs=1e-12)
    # the interval's point estimate is the same PGR, on per-problem correctness
    ids = [f"p{i}" for i in range(50)]
    model = {i: float(k % 3 != 0) for k, i in enumerate(ids)}
    weak_m = {i: float(k % 2 == 0) for k, i in enumerate(ids)}
    ceiling_m = {i: float(k % 5 != 0) for k, i in enumerate(ids)}
    mean = lambda d: sum(d.values()) / len(d)  # noqa: E731
    got = pgr_interval(model, weak_m, ceiling_m, n_draws=50)
    assert got["pgr"] == pytest.approx(_authors_pgr(mean(model), mean(weak_m), mean(ceiling_m), "w", "s"))
    assert got["low"] <= got["pgr"] <= got["high"]
