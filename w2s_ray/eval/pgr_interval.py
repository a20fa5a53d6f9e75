"""How sure is a PGR? A bootstrap interval over test problems, against each weak teacher.

One run's PGR is a ratio of differences of accuracies on a few hundred problems: noisy. Every
model of a run is evaluated on the same test problems, so the bootstrap resamples problems (the
same draw for the weak teacher, the ceiling and the model) and recomputes PGR; draws where the
ceiling is not above the weak teacher give no PGR and are counted, not hidden.
"""
from __future__ import annotations

import random
from collections.abc import Mapping

from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_output

N_DRAWS = 1000
SEED = 0


def correct_by_problem(manifest: Manifest, key: str) -> dict[str, float] | None:
    """{problem_id: share of samples right} of a finished eval stage (greedy: 0 or 1)."""
    if not manifest.is_complete(key):
        return None
    output = manifest.record(key)["outputs"].get("rows")
    if output is None:
        return None
    rows = read_output(output)
    right: dict[str, list[float]] = {}
    for r in rows:
        if r.get("has_gold", r.get("gold") is not None):
            right.setdefault(r["problem_id"], []).append(float(bool(r["correct"])))
    return {pid: sum(v) / len(v) for pid, v in right.items()}


def pgr_interval(model: Mapping[str, float], weak: Mapping[str, float], ceiling: Mapping[str, float],
                 n_draws: int = N_DRAWS, seed: int = SEED, level: float = 0.95) -> dict | None:
    """{pgr, low, high, draws, undefined}: PGR on the problems all three share and its percentile
    interval over bootstrap draws of those problems; None when they share none."""
    ids = sorted(set(model) & set(weak) & set(ceiling))
    if not ids:
        return None

    def pgr_of(sample: list[str]) -> float | None:
        n = len(sample)
        m, w, c = (sum(d[i] for i in sample) / n for d in (model, weak, ceiling))
        return None if c <= w else (m - w) / (c - w)

    rng = random.Random(seed)
    values, undefined = [], 0
    for _ in range(n_draws):
        value = pgr_of([rng.choice(ids) for _ in ids])
        if value is None:
            undefined += 1
        else:
            values.append(value)
    values.sort()
    tail = (1 - level) / 2
    low = values[int(tail * len(values))] if values else None
    high = values[min(len(values) - 1, int((1 - tail) * len(values)))] if values else None
    return {"pgr": pgr_of(ids), "low": low, "high": high, "level": level, "draws": n_draws,
            "undefined": undefined, "problems": len(ids)}
