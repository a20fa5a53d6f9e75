"""The easy_to_hard report's findings (eval/findings.py), each over the hard test problems only:

  prm_weighted>majority_hard  the easy-trained PRM's weighted vote beats majority vote (Sun et al. 2024)
  best_of_n>=majority_hard    best-of-N by that PRM is not below majority vote (diff = best-of-N - majority;
                              "reversed" is the failure; the unscored samples it ranked last stand beside it)
  easy_sft_sgr                easy-only SFT recovers part of the supervision gap (SGR > 0, Hase et al. 2024)

The reranking claims are paired differences of the rerank report's picks (one per problem and method);
SGR's interval is Hase et al.'s bootstrap (`sgr_interval`): problems resampled once for the three
models, the ratio of mean differences per draw, draws with no finite ratio dropped and counted.
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from w2s_ray.eval.findings import N_DRAWS, SEED, finding, paired_finding, restrict
from w2s_ray.eval.pgr_interval import correct_by_problem
from w2s_ray.recipes.easy_to_hard.config import SGR_BOUND_LABELS, EasyToHardConfig
from w2s_ray.run.stage_io import read_output
from w2s_ray.run.stage_tags import find


def sgr_value(easy: float | None, unsupervised: float | None, hard_trained: float | None) -> float | None:
    """(easy - unsupervised) / (hard_trained - unsupervised); None where the bound is not above the
    unsupervised model (no gap to recover: the ratio is infinite or has its sign flipped) or a point is missing."""
    if None in (easy, unsupervised, hard_trained) or hard_trained <= unsupervised:
        return None
    return (easy - unsupervised) / (hard_trained - unsupervised)


def quantile7(sorted_xs: Sequence[float], p: float) -> float:
    """R's default quantile (type 7: linear between order statistics), as Hase et al.'s intervals use."""
    h = (len(sorted_xs) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (h - lo) * (sorted_xs[hi] - sorted_xs[lo])


def sgr_interval(easy: Mapping[str, float], unsupervised: Mapping[str, float], hard_trained: Mapping[str, float],
                 n_draws: int = N_DRAWS, seed: int = SEED, level: float = 0.95) -> dict | None:
    """{sgr, low, high, estimate, draws, undefined, problems} on the problems all three answered;
    `sgr` is the point value (sgr_value), `estimate` the mean over draws as Hase et al. print it."""
    ids = sorted(set(easy) & set(unsupervised) & set(hard_trained))
    if not ids:
        return None
    rng = random.Random(seed)
    stats, undefined = [], 0
    for _ in range(n_draws):
        sample = [rng.choice(ids) for _ in ids]
        recovered = sum(easy[i] - unsupervised[i] for i in sample) / len(sample)
        gap = sum(hard_trained[i] - unsupervised[i] for i in sample) / len(sample)
        if gap == 0:  # R gives Inf or NaN here and drops it (is.finite)
            undefined += 1
            continue
        stats.append(recovered / gap)
    stats.sort()
    tail = (1 - level) / 2
    mean = lambda d: sum(d[i] for i in ids) / len(ids)  # noqa: E731
    return {"sgr": sgr_value(mean(easy), mean(unsupervised), mean(hard_trained)),
            "low": quantile7(stats, tail) if stats else None, "high": quantile7(stats, 1 - tail) if stats else None,
            "estimate": sum(stats) / len(stats) if stats else None, "level": level, "draws": n_draws,
            "undefined": undefined, "problems": len(ids)}


def _rows(manifest, key: str | None) -> list[dict] | None:
    if key is None:
        return None
    output = manifest.record(key)["outputs"].get("rows")
    return None if output is None else read_output(output)


def _pick_correct(picks: list[dict], method: str, hard: set[int]) -> dict[str, float]:
    return {str(p["problem_id"]): float(bool(p["correct"])) for p in picks
            if p["method"] == method and p.get("level") is not None and int(p["level"]) in hard}


def findings(manifest, common: dict) -> list[dict]:
    e2h = EasyToHardConfig.model_validate((manifest.config or {}).get("easy_to_hard") or {})
    hard_levels = list(common.get("hard_levels") or e2h.hard_levels)
    hard = set(hard_levels)
    extra = {"levels": hard_levels}
    picks = _rows(manifest, find(manifest, "report", "easy_to_hard"))
    claims = [("prm_weighted>majority_hard", "the easy-trained PRM's weighted vote is more accurate than majority "
               "vote on the hard levels", "weighted"),
              ("best_of_n>=majority_hard", "best-of-N by the easy-trained PRM is not below majority vote on the "
               "hard levels (the failure: reversed)", "best_of_n")]
    out = []
    for id_, claim, method in claims:
        more = {**extra, "aggregate": common.get("aggregate", e2h.aggregate)}
        if method == "best_of_n":  # what would explain a best-of-N below majority: samples it could not score
            more["n_unscored_samples"] = common.get("n_unscored_samples")
        if picks is None:
            out.append(finding(id_, claim, None, "the rerank report stage has not run", **more))
            continue
        majority = _pick_correct(picks, "majority", hard)
        out.append(paired_finding(id_, claim, _pick_correct(picks, method, hard) or None, majority or None, **more)
                   if majority else finding(id_, claim, None, "the test split has no hard-level problem", **more))
    out.append(_sgr_finding(manifest, e2h, hard, extra))
    return out


def _sgr_finding(manifest, e2h: EasyToHardConfig, hard: set[int], extra: dict) -> dict:
    id_ = "easy_sft_sgr"
    claim = "SFT on easy levels only recovers part of the supervision gap on the hard levels (SGR > 0)"
    extra = {**extra, "unit": "ratio"}
    if not e2h.sgr_bounds:
        return finding(id_, claim, None, "sgr_bounds is false: the unsupervised and hard-trained models were not run",
                       **extra)
    if e2h.sgr_bound != "hard_levels":
        return finding(id_, claim, None, f"sgr_bound {e2h.sgr_bound}: the bound ({SGR_BOUND_LABELS[e2h.sgr_bound]}) "
                       "is not SGR's hard-trained model", **extra)
    keys = {"easy_sft": find(manifest, "student_eval", "easy_sft"),
            "strong_base": find(manifest, "baseline", "strong_base"),
            "hard_sft": find(manifest, "baseline", SGR_BOUND_LABELS["hard_levels"])}
    missing = [name for name, key in keys.items() if key is None]
    if missing:
        return finding(id_, claim, None, f"not evaluated: {', '.join(missing)}", **extra)
    hard_ids = [str(r["problem_id"]) for r in _rows(manifest, keys["easy_sft"]) or []
                if r.get("level") is not None and int(r["level"]) in hard]
    easy, base, bound = (restrict(correct_by_problem(manifest, keys[n]), hard_ids) for n in keys)
    ci = sgr_interval(easy, base, bound) if easy and base and bound else None
    if ci is None or ci["sgr"] is None or ci["low"] is None:
        why = ("the test split has no hard-level problem" if ci is None else
               "the hard-trained model is not above the unsupervised base on the hard levels: no gap to recover")
        return finding(id_, claim, None, why, **extra)
    return finding(id_, claim, {"diff": ci["sgr"], "low": ci["low"], "high": ci["high"], "problems": ci["problems"]},
                   undefined_draws=ci["undefined"], **extra)
