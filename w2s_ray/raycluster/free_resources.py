"""Ray Data actor pools sized from what the cluster has free now, not from its totals.

A Ray Data actor pool of a fixed size starts its actors asynchronously and then waits for them; an
actor whose resources are held by something else (a Serve replica of `w2s run --serve`, another
job on a shared cluster, a Ray Train worker group) stays pending, and a stage whose pool cannot
start waits forever with nothing in the log. Ray Data's own budget is the cluster's total, so it
does not see the problem either.

So before a generate or score stage starts its pools, each pool's size is cut to what fits in
`ray.available_resources()` (the pools of one stage run at the same time, so they share it), with
a message when a pool is cut; and when not even one actor of a pool fits, the stage fails at once
with `NoRoomError`, naming the stage, what one actor needs, what is free and what the cluster has.

A stage's engine pool is not all it runs: its rows go on through Ray Data map tasks (the engine's
postprocess, the answer extraction). Those ask ROW_TASK_CPUS each, and the engine pool is sized from
what is free less that much, so an engine pool that takes every free CPU cannot leave its own rows
waiting for a CPU (a stage hangs so while a Serve replica holds the rest).

Free resources move (a Serve swap holds two replicas for a moment), so this is a snapshot: a pool
sized from it can still wait for a moment, but not for resources that were never there.

On a cluster that autoscales, what is free now is not all there can be: a stage that gives its pools'
bundles first asks the autoscaler for them and waits, bounded, for the nodes (autoscale.py).
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence

_EPS = 1e-9
# What one light per-row map task asks (answer extraction, the engine's postprocess): a fraction, so
# that many run beside the engines on the CPU set aside for them.
ROW_TASK_CPUS = 0.1


class NoRoomError(RuntimeError):
    """Not even one actor of a stage's pool fits in what the cluster has free."""


# Actors of the previous stage are released asynchronously (Ray Data kills a finished pool's
# actors after the stage has returned its rows): what is not free yet may be in a second or two.
SETTLE_S = 60.0


def free_resources(want: Mapping[str, float] | None = None, settle_s: float | None = None,
                   bundles: Sequence[Mapping[str, float]] | None = None, stage: str = "") -> dict[str, float]:
    """CPU and GPU the cluster has free now (Ray must be initialised). With `want`, waits up to
    `settle_s` (default SETTLE_S) for that much to be free, and returns what is free then. With
    `bundles` (one per actor the stage's pools want), a cluster that autoscales and is still short
    then is asked for them and given up to `ray.autoscale_wait_s` to add them (autoscale.grow_for)."""
    import ray

    from w2s_ray.raycluster import autoscale

    deadline = time.monotonic() + (SETTLE_S if settle_s is None else settle_s)
    while True:
        raw = ray.available_resources()
        free = {"CPU": float(raw.get("CPU", 0.0)), "GPU": float(raw.get("GPU", 0.0))}
        enough = not want or all(free.get(k, 0.0) + _EPS >= v for k, v in want.items())
        if enough or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not enough and bundles and autoscale.autoscaling():
        return autoscale.grow_for(stage or "a stage", bundles, lambda: free_resources(settle_s=0))
    return free


def total_resources() -> dict[str, float]:
    import ray

    total = ray.cluster_resources()
    return {"CPU": float(total.get("CPU", 0.0)), "GPU": float(total.get("GPU", 0.0))}


def fit_pool(stage: str, wanted: int, per_actor: Mapping[str, float], free: dict[str, float],
             total: Mapping[str, float] | None = None, reserve_cpus: float = 0.0) -> int:
    """How many of `wanted` actors (each asking `per_actor`) fit in `free` less `reserve_cpus` (kept
    for the stage's row tasks); takes them out of `free`.

    Raises NoRoomError when not one fits."""
    room = {**free, "CPU": free.get("CPU", 0.0) - reserve_cpus}
    fits = wanted
    for resource, amount in per_actor.items():
        if amount > _EPS:
            fits = min(fits, math.floor((room.get(resource, 0.0) + _EPS) / amount))
    if fits < 1:
        ask = ", ".join(f"{v:g} {k}" for k, v in per_actor.items() if v > _EPS) or "nothing"
        have = ", ".join(f"{max(room.get(k, 0.0), 0.0):g} {k}" for k in per_actor if per_actor[k] > _EPS)
        of = f" of {', '.join(f'{total.get(k, 0.0):g} {k}' for k in per_actor if per_actor[k] > _EPS)}" \
            if total else ""
        raise NoRoomError(
            f"stage {stage!r}: one actor needs {ask}, but the cluster has only {have} free{of}; something "
            f"else holds the rest (a Serve replica of `w2s run --serve`, another job)"
            f"{f', and {reserve_cpus:g} CPU is kept for the stage row tasks' if reserve_cpus else ''}. "
            f"Free resources, "
            f"or ask for less (`ray.num_cpus`, the scorer's `num_cpus`, `serve.num_cpus`); `w2s plan` "
            f"shows what each stage asks for")
    for resource, amount in per_actor.items():
        free[resource] = free.get(resource, 0.0) - fits * amount
    if fits < wanted:
        print(f"[resources] {stage}: {fits} of {wanted} actors fit in what the cluster has free; using {fits}",
              file=sys.stderr, flush=True)
    return fits

