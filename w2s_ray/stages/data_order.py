"""Order statistics of a Ray Dataset's column, with none of the column in the driver: the k-th
smallest value (LightReasoner's KL quantile) and the AUROC of a score column against 0/1 labels (the
PRM's step AUROC). Each is a sort in Ray Data, then one Ray task that reads the sorted blocks in
order (a sequence, so one reader, as the selection hash is read: stages/select_data.py) and hands
back one number (or, kth_row, one row's key: the RM's top-fraction cut, recipes/multi_capability).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from w2s_ray.eval.auroc import auroc_sorted
from w2s_ray.run.shuffle import in_order, sort_by


def reduce_sorted(ds, by: str | Sequence[str], fn: Callable[[Iterator[pa.Table]], Any],
                  batch_size: int = 65536) -> Any:
    """fn(the batches of `ds` sorted by `by` (a column, or columns in order), in order), run in one Ray task."""
    import ray

    ordered = sort_by(in_order(ds), by).materialize()  # its size from its blocks: run/shuffle.py
    return ray.get(ray.remote(num_cpus=0.5)(_reduce).remote(ordered, fn, batch_size))


def _reduce(ds, fn: Callable, batch_size: int) -> Any:
    return fn(in_order(ds).iter_batches(batch_format="pyarrow", batch_size=batch_size))


def kth_smallest(ds, column: str, k: int) -> float:
    """The value at index k (from 0) of `column` sorted ascending (no NaN in it)."""
    return float(kth_row(ds, [column], k)[0])


def kth_row(ds, columns: Sequence[str], k: int) -> tuple:
    """The row at index k (from 0) of `ds` sorted by `columns` in order, as a tuple of their values."""
    return reduce_sorted(ds, list(columns), functools.partial(_kth_row, columns=list(columns), k=k))


def _kth_row(batches: Iterator[pa.Table], columns: list[str], k: int) -> tuple:
    seen = 0
    for batch in batches:
        if k < seen + batch.num_rows:
            return tuple(batch[c][k - seen].as_py() for c in columns)
        seen += batch.num_rows
    raise IndexError(f"row {k} of {columns!r} sorted, which has {seen} rows")


def sorted_auroc(ds, score: str = "score", label: str = "label") -> float | None:
    """eval.auroc.auroc of `score` against `label` (no NaN scores), the pairs sorted in Ray Data."""
    return reduce_sorted(ds, score, functools.partial(_auroc, score=score, label=label))


def _auroc(batches: Iterator[pa.Table], score: str, label: str) -> float | None:
    return auroc_sorted((b[score].to_pylist(), b[label].to_pylist()) for b in batches)


__all__ = ["kth_row", "kth_smallest", "reduce_sorted", "sorted_auroc"]
