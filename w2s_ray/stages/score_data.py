"""A stage that scores an upstream stage's rows on a scorer actor pool, in Ray Data (issue 30): the
workers read the upstream files, the scorer actors add their columns, the workers write the scored
rows; the driver holds the output's record and a few sums (LightReasoner's contrast, the
multi-capability recipe's reward-model scores).

The rows are sorted by `order` before they are scored, so the scorers see the same batches on every
run and every machine (a model's forward pass over a padded batch depends on what else is in it).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pyarrow as pa

from w2s_ray.run.shuffle import in_order, parquet_bytes, sort_by
from w2s_ray.run.stage_dataset import write_dataset
from w2s_ray.score.stage import ScorerSpec, score_dataset
from w2s_ray.select.grouped import SIDE
from w2s_ray.stages.select_data import StageData


def score_upstream(stage_dir: str | Path, data: StageData, schema: pa.Schema, specs: Sequence[ScorerSpec],
                   order: Sequence[str], prepare: Callable[[pa.Table], pa.Table] | None = None) -> dict:
    """`data`'s rows (`schema`'s columns; `prepare` on each batch, module level: the workers unpickle
    it), sorted by `order`, scored by `specs` and written to stage_dir: the output's record."""
    ds = data.dataset("rows", schema)
    if ds is None:
        raise ValueError(f"{stage_dir}: the upstream stages wrote no rows to score")
    ds = ds.drop_columns([SIDE])
    if prepare is not None:
        ds = ds.map_batches(prepare, batch_format="pyarrow")
    ordered = in_order(sort_by(ds, list(order), parquet_bytes(data.files())))
    return write_dataset(stage_dir, score_dataset(ordered, list(specs)), order=order)


def output_sums(output: dict, sums: Mapping[str, Callable[[pa.Table], int | float]]) -> dict:
    """{name: fn summed over the written output's batches}, each fn a pyarrow table -> number, run in
    the workers (a stage's metrics over list columns that must not come to the driver row by row)."""
    import ray

    files = [f"{output['path']}/{f['name']}" for f in output["files"]]  # just written by write_dataset
    totals = dict.fromkeys(sums, 0)
    if not files:
        return totals
    parts = ray.data.read_parquet(files).map_batches(_Sums(sums), batch_format="pyarrow", batch_size=None)
    for part in parts.take_all():  # one small row a block
        for name in sums:
            totals[name] += part[name]
    return totals


class _Sums:
    def __init__(self, sums: Mapping[str, Callable[[pa.Table], int | float]]):
        self.sums = dict(sums)

    def __call__(self, table: pa.Table) -> pa.Table:
        return pa.table({name: [fn(table)] for name, fn in self.sums.items()})


__all__ = ["output_sums", "score_upstream"]
