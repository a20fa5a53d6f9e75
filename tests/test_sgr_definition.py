"""SGR against the authors' computation (Hase et al. 2024, "The Unreasonable Effectiveness of Easy Training
Data for Hard Tasks"; METHODS.md, metrics), github:allenai/easy-to-hard-generalization at
ad8358e42904da169e8a3e3f70b64290d739b37a, analysis.Rmd: the SGR table at lines 867 and 889
(`supervision_gap_recovered = (Easy - Unsupervised) / (Hard - Unsupervised)`), the point value at line
1302, and `bootstrapBminusAoverCminusA` at lines 1128-1170 (the interval). Their code is R and is not
vendored: `_authors_sgr` and `_authors_bootstrap` re-implement those lines on plain numbers.

Where we differ on purpose: where the hard-trained model is not above the unsupervised one, their ratio
is Inf or has its sign flipped; ours is None (no gap to recover), as PGR is (tests/test_pgr_authors.py).
R's `sample` and Python's `random` draw differently, so the bootstrap is compared on the same draws."""
from __future__ import annotations

import math
import random

import pytest

from w2s_ray.recipes.easy_to_hard.findings import quantile7, sgr_interval
from w2s_ray.recipes.easy_to_hard.report import sgr


def _authors_sgr(easy, unsupervised, hard):
    # analysis.Rmd l.867 / l.1302: (mean(Easy) - mean(Unsupervised)) / (mean(Hard) - mean(Unsupervised)); R
    # divides by zero to Inf (or NaN for 0/0)
    gap = hard - unsupervised
    if gap == 0:
        return math.nan if easy == unsupervised else math.copysign(math.inf, easy - unsupervised)
    return (easy - unsupervised) / gap


def _r_quantile(xs, p):
    # R's quantile(), default type 7 (1-indexed): j = floor(n p + m), g = n p + m - j, m = 1 - p
    xs, n = sorted(xs), len(xs)
    m = 1 - p
    j = math.floor(n * p + m)
    g = n * p + m - j
    x = lambda k: xs[min(max(k, 1), n) - 1]  # noqa: E731
    return (1 - g) * x(j) + g * x(j + 1)


def _authors_bootstrap(A, B, C, row_draws):
    # l.1128-1170 with one column per matrix (one run of each model): A unsupervised, B easy, C hard,
    # rows paired (the same test items); each draw resamples rows (l.1151: row_idx), then
    # res <- mean(B_sample - A_sample) / mean(C_sample - A_sample) (l.1158)
    stats = []
    for row_idx in row_draws:
        recovered = sum(B[i] - A[i] for i in row_idx) / len(row_idx)
        gap = sum(C[i] - A[i] for i in row_idx) / len(row_idx)
        stats.append(math.nan if gap == 0 and recovered == 0 else
                     math.copysign(math.inf, recovered) if gap == 0 else recovered / gap)
    stats = [s for s in stats if math.isfinite(s)]  # l.1162: stats[is.finite(stats)]
    # l.1163-1166: mean and the 2.5 / 97.5 % quantiles
    return sum(stats) / len(stats), _r_quantile(stats, 0.025), _r_quantile(stats, 0.975), len(stats)


CASES = [(0.25, 0.10, 0.40), (0.10, 0.10, 0.40), (0.05, 0.10, 0.40), (0.55, 0.10, 0.40), (0.40, 0.10, 0.40),
         (0.30, 0.40, 0.40), (0.30, 0.50, 0.40), (0.0, 0.0, 1.0), (0.2, 0.2, 0.2000001)]


@pytest.mark.parametrize("easy, unsupervised, hard", CASES)
def test_sgr_is_the_authors_where_there_is_a_gap_and_none_where_there_is_not(easy, unsupervised, hard):
    theirs, ours = _authors_sgr(easy, unsupervised, hard), sgr(easy, unsupervised, hard)
    if hard <= unsupervised:  # no gap to recover: theirs Inf, NaN or sign-flipped
        assert ours is None
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_sgr_edge_cases():
    assert sgr(0.3, 0.4, 0.4) is None and sgr(0.3, 0.5, 0.4) is None  # bound == base, bound below base
    assert sgr(0.05, 0.1, 0.4) == pytest.approx(-1 / 6)  # easy-trained below unsupervised: negative
    assert sgr(0.5, 0.1, 0.4) == pytest.approx(4 / 3)  # above the hard-trained bound: over 1
    assert sgr(None, 0.1, 0.4) is None and sgr(0.2, None, 0.4) is None and sgr(0.2, 0.1, None) is None


def test_sgr_on_random_accuracies_matches():
    rng = random.Random(5)
    for _ in range(300):
        easy, unsupervised, hard = (round(rng.random(), 3) for _ in range(3))
        ours = sgr(easy, unsupervised, hard)
        assert (ours is None) == (hard <= unsupervised)
        if ours is not None:
            assert ours == pytest.approx(_authors_sgr(easy, unsupervised, hard), abs=1e-12)


def _draws(ids, n_draws, seed):
    rng = random.Random(seed)  # the draws sgr_interval makes with the same seed
    return [[rng.choice(ids) for _ in ids] for _ in range(n_draws)]


@pytest.mark.parametrize("n, seed", [(40, 0), (120, 3), (7, 1)])
def test_the_sgr_interval_is_the_authors_bootstrap_on_the_same_draws(n, seed):
    rng = random.Random(n)
    ids = [f"h{i:03d}" for i in range(n)]
    base = {i: float(rng.random() < 0.2) for i in ids}
    easy = {i: float(rng.random() < 0.45) for i in ids}
    hard = {i: float(rng.random() < 0.6) for i in ids}
    ours = sgr_interval(easy, base, hard, n_draws=400, seed=seed)
    mean, low, high, kept = _authors_bootstrap(base, easy, hard, _draws(sorted(ids), 400, seed))
    assert ours["low"] == pytest.approx(low, abs=1e-12) and ours["high"] == pytest.approx(high, abs=1e-12)
    assert ours["estimate"] == pytest.approx(mean, abs=1e-12) and ours["undefined"] == 400 - kept
    mean_of = lambda d: sum(d.values()) / n  # noqa: E731
    assert ours["sgr"] == pytest.approx(_authors_sgr(mean_of(easy), mean_of(base), mean_of(hard)))
    assert ours["problems"] == n


def test_draws_without_a_gap_are_dropped_and_counted_and_no_problems_is_no_interval():
    # 3 problems: a draw of only "a" and "b" has hard == base; it is dropped (R: Inf / NaN), not hidden
    easy, base, hard = {"a": 1.0, "b": 0.0, "c": 1.0}, {"a": 0.0, "b": 0.0, "c": 0.0}, {"a": 0.0, "b": 0.0, "c": 1.0}
    ours = sgr_interval(easy, base, hard, n_draws=300, seed=2)
    _, low, high, kept = _authors_bootstrap(base, easy, hard, _draws(["a", "b", "c"], 300, 2))
    assert 0 < ours["undefined"] == 300 - kept and (ours["low"], ours["high"]) == pytest.approx((low, high))
    assert sgr_interval(easy, base, {}) is None
    flat = sgr_interval({"a": 1.0}, {"a": 0.0}, {"a": 0.0}, n_draws=10)  # no gap in any draw
    assert flat["sgr"] is None and flat["low"] is None and flat["undefined"] == 10


def test_quantile7_is_r_type_7():
    xs = sorted(random.Random(9).random() for _ in range(57))
    for p in (0.0, 0.025, 0.5, 0.975, 1.0):
        assert quantile7(xs, p) == pytest.approx(_r_quantile(xs, p), abs=1e-12)
    assert quantile7([1.0, 2.0, 3.0, 4.0], 0.025) == pytest.approx(1.075)  # R: quantile(1:4, .025)
