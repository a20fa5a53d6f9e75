"""The Score stage: run a list of scorers over generations, on Ray Data or on plain Python rows.

    specs = [ScorerSpec(name="answer_check", config={"style": "gsm8k"}),
             ScorerSpec(name="step_check", concurrency=2),
             ScorerSpec(name="majority_vote")]
    scored = score_dataset(generations_ds, specs)   # lazy Ray Dataset
    rows = score_rows(list_of_dicts, specs)          # same scorers, no Ray

On Ray, a row-wise scorer runs as an actor pool (`map_batches` with a callable class), so a scorer
that loads a model does it once per actor and can ask for a GPU; a grouped scorer runs after
`groupby(group_by)` as `map_groups`, one whole group per call. Both paths call the same Scorer
objects through `run_scorer`, so they produce the same columns (a test holds them to it).
Rows come out of the grouped path in group order, not input order.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from w2s_ray.run.shuffle import group_by
from w2s_ray.score.base import Batch, Scorer, batch_length, check_options, get_scorer, object_column


class ScorerSpec(BaseModel):
    """One scorer in a Score stage: which, its keyword config, and how to run it on Ray."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "2" is not a pool size

    name: str
    config: dict[str, Any] = Field(default_factory=dict)
    concurrency: int = Field(1, ge=1, description="actors in the pool")
    batch_size: int = Field(64, ge=1, description="rows per call for row-wise scorers")
    num_cpus: float | None = Field(None, ge=0, description="per actor; None: the scorer's own")
    num_gpus: float | None = Field(None, ge=0, description="per actor; None: the scorer's own")
    num_partitions: int | None = Field(
        None, ge=1, description="grouped scorers: shuffle partitions for the groupby; None: sized to the rows "
                    "(sqrt(bytes / 1 MiB), run/shuffle.py), so no piece is small enough to be kept in the driver")

    def scorer_class(self) -> type[Scorer]:
        return get_scorer(self.name)

    def resources(self) -> dict[str, float]:
        cls = self.scorer_class()
        return {
            "num_cpus": cls.num_cpus if self.num_cpus is None else self.num_cpus,
            "num_gpus": cls.num_gpus if self.num_gpus is None else self.num_gpus,
        }


def as_specs(scorers: Iterable[ScorerSpec | dict | str]) -> list[ScorerSpec]:
    """Validate specs up front: unknown names, bad options and clashing columns fail before any work
    starts. An option error names the spec's position and name: `scorer 0 ('answer_check'): option
    'style': ...`."""
    specs = [s if isinstance(s, ScorerSpec) else
             ScorerSpec(name=s) if isinstance(s, str) else ScorerSpec(**s) for s in scorers]
    seen: dict[str, str] = {}
    for i, spec in enumerate(specs):
        try:
            check_options(spec.scorer_class(), spec.config)
        except ValueError as err:
            raise ValueError(f"scorer {i} ({spec.name!r}): {err}") from None
        for column in spec.scorer_class().columns:
            if column in seen:
                raise ValueError(f"column {column!r} is added by both {seen[column]!r} and {spec.name!r}")
            seen[column] = spec.name
    return specs


def run_scorer(scorer: Scorer, batch: Batch) -> Batch:
    """The scorer's new columns for `batch`, after checking it kept its contract."""
    label = type(scorer).name or type(scorer).__name__
    clash = set(scorer.columns) & set(batch)
    if clash:
        raise ValueError(f"scorer {label!r} would overwrite existing columns {sorted(clash)}")
    added = scorer(batch)
    if set(added) != set(scorer.columns):
        raise ValueError(f"scorer {label!r} returned {sorted(added)}, declared {list(scorer.columns)}")
    n = batch_length(batch)
    for column, values in added.items():
        if len(values) != n:
            raise ValueError(f"scorer {label!r} column {column!r} has {len(values)} rows, batch {n}")
    return {column: np.asarray(added[column]) for column in scorer.columns}


class _ScorerActor:
    """Ray Data callable class: builds its scorers once per actor, then scores batches.

    It takes and returns Arrow tables and only appends columns: the input columns pass through
    untouched. A numpy round trip would not: Ray turns a batch's list cells into a tensor column when
    they happen to have equal lengths and into a list column otherwise, and the blocks then fail to
    concatenate ("Found columns with both objects and tensors"). New list columns become Arrow lists.
    Several light row-wise scorers share one actor pool (see `_pools`): each pool costs an actor
    start (seconds on a small machine), which dominated small stages.
    """

    def __init__(self, scorers: list[tuple[type[Scorer], dict[str, Any]]]):
        self.scorers = [cls(**config) for cls, config in scorers]

    def __call__(self, table):
        from ray.data.block import BlockAccessor

        for scorer in self.scorers:
            added = run_scorer(scorer, BlockAccessor.for_block(table).to_batch_format("numpy"))
            for column in scorer.columns:
                table = table.append_column(column, _to_arrow(added[column]))
        return table


def _to_arrow(values: np.ndarray):
    import pyarrow as pa

    if values.dtype == object or values.ndim > 1:
        return pa.array([v.tolist() if isinstance(v, np.ndarray) else v for v in values])
    return pa.array(values)


def _pools(specs: list[ScorerSpec]) -> list[list[ScorerSpec]]:
    """Consecutive row-wise specs that run alike (pool size, batch size, resources) share a pool."""
    pools: list[list[ScorerSpec]] = []
    for spec in specs:
        prev = pools[-1][0] if pools else None
        alike = (prev is not None and spec.scorer_class().group_by is None and prev.scorer_class().group_by is None
                 and (spec.concurrency, spec.batch_size, spec.resources())
                 == (prev.concurrency, prev.batch_size, prev.resources()))
        if alike:
            pools[-1].append(spec)
        else:
            pools.append([spec])
    return pools


def scorers_fit_now(scorers: Sequence[ScorerSpec | dict | str]) -> bool:
    """Whether every scorer pool fits at its full size in what the cluster has free now (a stage
    keeping its engines up asks this before scoring beside them)."""
    from w2s_ray.raycluster.free_resources import free_resources

    free = free_resources(settle_s=0)
    for pool in _pools(as_specs(scorers)):
        res = pool[0].resources()
        if any(pool[0].concurrency * res[f"num_{k.lower()}s"] > free[k] + 1e-9 for k in ("CPU", "GPU")):
            return False
    return True


def score_dataset(ds, scorers: Sequence[ScorerSpec | dict | str]):
    """Add every scorer's columns to a Ray Dataset, in order; returns the (lazy) scored Dataset."""
    specs = as_specs(scorers)  # fail on a bad spec before anything touches Ray
    from ray.data import ActorPoolStrategy

    from w2s_ray.raycluster.free_resources import fit_pool, free_resources, total_resources

    # Each pool gets as many actors as fit in what is free now (a Serve replica may hold CPUs), at
    # least one, or the stage fails here instead of waiting for an actor that can never start.
    # Pools are sized one by one, not as a sum: a pool with no actor running yet gets the CPUs of
    # the pools before it when they finish, as Ray Data has always run them on a small cluster.
    pools = _pools(specs)
    asks = [{"CPU": p[0].concurrency * p[0].resources()["num_cpus"],
             "GPU": p[0].concurrency * p[0].resources()["num_gpus"]} for p in pools]
    # An autoscaler is asked for every pool's actors: Ray Data streams rows through the pools at once.
    bundles = [{"CPU": p[0].resources()["num_cpus"], "GPU": p[0].resources()["num_gpus"]}
               for p in pools for _ in range(p[0].concurrency)]
    free = free_resources(want={k: max(a[k] for a in asks) for k in ("CPU", "GPU")} if asks else None,
                          bundles=bundles, stage="score " + "+".join(s.name for s in specs))
    total = total_resources()
    for pool in pools:
        head = pool[0]
        cls = head.scorer_class()
        res = head.resources()
        size = fit_pool("score " + "+".join(s.name for s in pool), head.concurrency,
                        {"CPU": res["num_cpus"], "GPU": res["num_gpus"]}, dict(free), total)
        # The classes travel to the actors, not their names: the workers build exactly the scorers the
        # driver resolved, without relying on registration side effects in the worker. Cloudpickle
        # sends them by reference to their module (by value from __main__), so a scorer defined in a
        # file the workers cannot import needs a runtime_env `py_modules` (tests pickle theirs by value).
        ray_args = dict(
            fn_constructor_kwargs={"scorers": [(s.scorer_class(), dict(s.config)) for s in pool]},
            compute=ActorPoolStrategy(size=size),
            batch_format="pyarrow",
            **head.resources(),
        )
        if cls.group_by is None:
            ds = ds.map_batches(_ScorerActor, batch_size=head.batch_size, **ray_args)
        else:
            grouped = group_by(ds, cls.group_by, num_partitions=head.num_partitions)  # run/shuffle.py
            ds = grouped.map_groups(_ScorerActor, **ray_args)
    return ds


def score_rows(rows: Sequence[dict], scorers: Sequence[ScorerSpec | dict | str | Scorer]) -> list[dict]:
    """The same scorers without Ray: rows in, rows (same order, new dicts) with the new columns out.

    Besides specs, ready Scorer instances are accepted (batch size 64), handy for tests and notebooks.
    """
    specs = iter(as_specs([s for s in scorers if not isinstance(s, Scorer)]))
    rows = [dict(r) for r in rows]
    for item in scorers:
        if isinstance(item, Scorer):
            scorer, batch_size = item, 64
        else:
            spec = next(specs)
            scorer, batch_size = spec.scorer_class()(**spec.config), spec.batch_size
        if type(scorer).group_by is None:
            chunks = [list(range(i, min(i + batch_size, len(rows)))) for i in range(0, len(rows), batch_size)]
        else:
            chunks = _group_indices(rows, type(scorer).group_by)
        for chunk in chunks:
            scored = run_scorer(scorer, _to_batch([rows[i] for i in chunk]))
            for column in scorer.columns:
                for i, value in zip(chunk, scored[column].tolist()):
                    rows[i][column] = value
    return rows


def _group_indices(rows: Sequence[dict], keys: tuple[str, ...]) -> list[list[int]]:
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(i)
    return list(groups.values())


def _to_batch(rows: list[dict]) -> Batch:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return {c: object_column(row.get(c) for row in rows) for c in columns}
