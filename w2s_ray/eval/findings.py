"""A recipe's findings: each claim of its paper the run can test, as a paired difference over test
problems with its 95% interval, and whether it holds.

    {"id", "claim", "diff", "ci95": [lo, hi], "n_test", "holds", "verdict", ...}

`diff` is oriented so that the paper's claim is `diff > 0`; `holds` is True where the whole interval
lies above 0, False otherwise, None where the run has not measured it (`verdict` "not run", and the
reason). Every model of a run answers the same test problems, so a bootstrap draw resamples problems
once for all the models a claim compares: the difference is paired, and a claim about a ratio
(a share of another gain) is a per-problem linear combination, paired the same way.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping

N_DRAWS = 1000
SEED = 0
LEVEL = 0.95

PerProblem = Mapping[str, float]


def per_problem(fn: Callable[..., float], *models: PerProblem | None) -> dict[str, float] | None:
    """{problem_id: fn(value of each model)} on the problems every model answered; None when one is missing."""
    if any(m is None for m in models):
        return None
    ids = sorted(set.intersection(*(set(m) for m in models)))
    return {i: fn(*(m[i] for m in models)) for i in ids}


def restrict(model: PerProblem | None, ids) -> dict[str, float] | None:
    """The model's per-problem values on `ids` only (a level's problems, say)."""
    if model is None:
        return None
    keep = set(ids)
    return {i: v for i, v in model.items() if i in keep}


def mean_interval(values: PerProblem | None, n_draws: int = N_DRAWS, seed: int = SEED,
                  level: float = LEVEL) -> dict | None:
    """{diff, low, high, problems}: the mean of per-problem values and its percentile bootstrap interval."""
    if not values:
        return None
    ids = sorted(values)
    xs = [values[i] for i in ids]
    rng = random.Random(seed)
    n = len(xs)
    draws = sorted(sum(rng.choice(xs) for _ in range(n)) / n for _ in range(n_draws))
    tail = (1 - level) / 2
    return {"diff": sum(xs) / n, "low": draws[int(tail * n_draws)],
            "high": draws[min(n_draws - 1, int((1 - tail) * n_draws))], "level": level, "problems": n}


def paired_interval(better: PerProblem | None, worse: PerProblem | None, **kw) -> dict | None:
    """better - worse per shared problem, and its interval."""
    return mean_interval(per_problem(lambda b, w: b - w, better, worse), **kw)


def finding(id: str, claim: str, interval: dict | None, why_not_run: str = "", **extra) -> dict:
    """One entry of `findings` from an interval ({diff, low, high, problems}); None: not run."""
    if interval is None:
        return {"id": id, "claim": claim, "diff": None, "ci95": None, "n_test": 0, "holds": None,
                "verdict": "not run", "why": why_not_run or "a model the claim compares was not evaluated", **extra}
    low, high = interval["low"], interval["high"]
    verdict = "holds" if low > 0 else "reversed" if high < 0 else "not distinguishable"
    return {"id": id, "claim": claim, "diff": interval["diff"], "ci95": [low, high],
            "n_test": interval["problems"], "holds": low > 0, "verdict": verdict, **extra}


def paired_finding(id: str, claim: str, better: PerProblem | None, worse: PerProblem | None, **extra) -> dict:
    """The claim "better is more accurate than worse" on the test problems both answered."""
    return finding(id, claim, paired_interval(better, worse), **extra)


def diff_cell(f: dict) -> str:
    """A finding's difference and interval: accuracy points, or as is for a ratio (`unit`: "ratio", a PGR)."""
    if f["ci95"] is None:
        return "-"
    k, fmt = (1.0, "+.2f") if f.get("unit") == "ratio" else (100.0, "+.1f")
    lo, hi = f["ci95"]
    return f"{k * f['diff']:{fmt}} [{k * lo:{fmt}}, {k * hi:{fmt}}]"


def render_findings(findings: list[dict]) -> list[str]:
    """Markdown lines: claim, difference with its interval, n, verdict."""
    lines = ["| id | claim | diff (95% CI) | n test | verdict |", "|---|---|---|---|---|"]
    for f in findings:
        verdict = f["verdict"] if f["verdict"] != "not run" else f"not run ({f.get('why', '')})"
        lines.append(f"| {f['id']} | {f['claim']} | {diff_cell(f)} | {f['n_test'] or '-'} | {verdict} |")
    return lines + ["", "diff: accuracy points (or a ratio where marked) in the claim's direction; "
                    "holds where the whole 95% paired-bootstrap interval over test problems is above 0."]
