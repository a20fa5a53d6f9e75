"""On a cluster that autoscales, a stage asks for what its pools want before they are sized.

Pools are sized from what is free (free_resources.py), which keeps a stage from waiting forever on a
fixed cluster. On an autoscaling one that rule alone starves the run: nodes come up only for work
that waits, a pool cut to what is free never waits, so generation runs on the one engine that fits
the nodes already up and the cluster never grows. So where the cluster autoscales, a stage first asks
the autoscaler for its pools' bundles (`ray.autoscaler.sdk.request_resources`), waits (bounded) until
that much is free, then sizes its pools from what is free as before: all of them when the nodes came,
fewer (or NoRoomError) when the bound passed first.

A request stands until the next one replaces it, and a standing request keeps its nodes up after the
run has stopped needing them; so it is withdrawn (an empty request) once the pools are sized. The nodes
stay while the pools' actors hold them and scale down after them, as the autoscaler's idle timeout says.

Whether the cluster autoscales: `ray.autoscaling` (true / false), or by default ("auto") what the
autoscaler reported to the GCS: a node group that may grow (Ray Data's own test, ray 2.60
data/_internal/cluster_autoscaler/util.py `is_autoscaling_enabled`). KubeRay with
enableInTreeAutoscaling and `ray up` clusters report one; a fixed cluster, or an embedded Ray, none.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

AUTOSCALE_WAIT_S = 600.0  # a GPU node's start (VM, image pull, Ray) takes minutes
POLL_S = 5.0


@dataclass
class _Policy:
    setting: str | bool = "auto"  # ray.autoscaling
    wait_s: float = AUTOSCALE_WAIT_S  # ray.autoscale_wait_s


_policy = _Policy()


def configure(setting: str | bool, wait_s: float) -> None:
    """The run's `ray.autoscaling` and `ray.autoscale_wait_s` (run/context.open_run, after init_ray)."""
    _policy.setting, _policy.wait_s = setting, wait_s


def cluster_autoscales() -> bool:
    """Whether the autoscaler reported a node group that may grow. Ray must be initialised."""
    import ray._private.state

    try:
        config = ray._private.state.state.get_cluster_config()
    except Exception:  # noqa: BLE001 - no answer is no autoscaler as far as sizing goes
        return False
    if not config or not config.node_group_configs:
        return False
    return any(group.max_count == -1 or group.max_count > group.min_count
               for group in config.node_group_configs if group.resources and group.max_count != 0)


def autoscaling() -> bool:
    if isinstance(_policy.setting, bool):
        return _policy.setting
    return cluster_autoscales()


def _room_for(bundles: Sequence[Mapping[str, float]], free: Mapping[str, float]) -> bool:
    want: dict[str, float] = {}
    for bundle in bundles:
        for key, value in bundle.items():
            want[key] = want.get(key, 0.0) + value
    return all(free.get(key, 0.0) + 1e-9 >= value for key, value in want.items())


def grow_for(stage: str, bundles: Sequence[Mapping[str, float]], free_now, wait_s: float | None = None,
             poll_s: float | None = None) -> dict[str, float]:
    """Ask the autoscaler for `bundles` (every actor of the stage's pools, one bundle each), wait up to
    `wait_s` until `free_now()` has room for them all, withdraw the request, and return what is free."""
    from ray.autoscaler.sdk import request_resources

    wait_s = _policy.wait_s if wait_s is None else wait_s
    poll_s = POLL_S if poll_s is None else poll_s
    bundles = [{k: float(v) for k, v in b.items() if v > 0} for b in bundles]
    free = free_now()
    if _room_for(bundles, free):
        return free
    request_resources(bundles=bundles)
    print(f"[resources] {stage}: asked the autoscaler for {len(bundles)} bundles "
          f"({_describe(bundles)}); waiting up to {wait_s:g} s", file=sys.stderr, flush=True)
    deadline = time.monotonic() + wait_s
    try:
        while not _room_for(bundles, free) and time.monotonic() < deadline:
            time.sleep(poll_s)
            free = free_now()
    finally:
        request_resources(bundles=[])
    if not _room_for(bundles, free):
        print(f"[resources] {stage}: the autoscaler did not add them within {wait_s:g} s (ray.autoscale_wait_s); "
              f"sizing from what is free: {_describe([free])}", file=sys.stderr, flush=True)
    return free


def _describe(bundles: Sequence[Mapping[str, float]]) -> str:
    total: dict[str, float] = {}
    for bundle in bundles:
        for key, value in bundle.items():
            total[key] = total.get(key, 0.0) + value
    return ", ".join(f"{v:g} {k}" for k, v in sorted(total.items()))
