"""Sorts and group-bys in Ray Data whose pieces stay out of the driver.

A shuffle cuts each of its input blocks into one piece per output partition, in tasks the driver
starts (it runs Ray Data's executor), and Ray keeps a task's return under `max_direct_call_object_size`
(100 KiB) in the memory of the process that started the task: the driver. Ray Data 2.60 runs a
group-by as a hash shuffle into 200 partitions unless told, and a sort into as many as its input has
blocks, so the pieces are small and, until the reducers have read them, most of the dataset sits in
the driver. Measured with tests/test_driver_memory.py's driver at 200k short rows (2026-12-07): the
driver grew 85 MiB during the consistency filter's group-by alone, 109 MiB in all; with Ray's inline
limit lowered to 1 KiB (RAY_max_direct_call_object_size) 55 MiB in all; with the partitions sized
as below, 27 MiB in all (21 MiB at 20k rows).

So a shuffle of `nbytes` runs in K = sqrt(nbytes / PIECE_BYTES) partitions (its input is cut into
K blocks first; a group-by is a sort-based shuffle too): its pieces of about PIECE_BYTES or more go
to the object store, and the driver holds their references.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pyarrow.parquet as pq

# Ten times Ray's inline limit: a piece this size is stored in the object store, not in its caller.
PIECE_BYTES = 1 << 20


def shuffle_blocks(nbytes: int) -> int:
    """The number of blocks to shuffle `nbytes` of rows in (>= 1)."""
    return max(1, math.isqrt(max(int(nbytes), 0) // PIECE_BYTES))


def parquet_bytes(files: Iterable[str]) -> int:
    """The rows' size by the files' footers, every column, before compression (after parquet's
    encodings, so below their size in memory where values repeat: the square root forgives it); no
    row is read."""
    total = 0
    for f in files:
        meta = pq.ParquetFile(f).metadata
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


def sized(ds, nbytes: int | None = None):
    """`ds` in shuffle_blocks(its size) blocks, its order kept. Without `nbytes` the size is the
    materialized blocks' metadata (the dataset is materialized here)."""
    if nbytes is None:
        ds = ds.materialize()
        nbytes = ds.size_bytes()
    return ds.repartition(shuffle_blocks(nbytes))


def sort_by(ds, keys: str | Sequence[str], nbytes: int | None = None):
    """ds.sort(keys) with pieces out of the driver (see the module's docstring)."""
    return sized(ds, nbytes).sort(keys if isinstance(keys, str) else list(keys))


def group_by(ds, keys: str | Sequence[str], nbytes: int | None = None, num_partitions: int | None = None):
    """ds.groupby(keys) with pieces out of the driver (see the module's docstring), as a sort-based
    shuffle of K partitions: the input cut into K blocks, each cut at K key boundaries, in tasks.
    Ray Data 2.60's default is a hash shuffle through aggregator actors into 200 partitions unless
    told: on a tiny consistency selection (30 problems) its group-by took 9.2 s of the selection's
    15.2, the sort-based one 7.6 s of 7.8, the later phases finding the workers warm (2026-12-07);
    tests/test_driver_memory.py's driver grew 20.3 / 33.7 MiB at 20k / 200k rows with it (hash:
    21.0 / 27.0) and ran in 69 s instead of 129. Without `nbytes` the dataset is materialized for its
    size; `num_partitions`, where a user set it, wins."""
    from ray.data import Dataset
    from ray.data.context import ShuffleStrategy

    if num_partitions is None:
        if nbytes is None:
            ds = ds.materialize()
            nbytes = ds.size_bytes()
        num_partitions = shuffle_blocks(nbytes)
    # A dataset shares its DataContext with the one it was made from: a deep copy has its own, so the
    # strategy reaches this group-by and not the input's other uses.
    ds = Dataset.copy(ds.repartition(num_partitions), _deep_copy=True)
    ds.context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    return ds.groupby(keys if isinstance(keys, str) else list(keys))


def in_order(ds):
    """`ds`, its blocks kept in order through every operation made from it: the selection hash reads
    them in order, and the writers name their files by task index, so the files list in the rows'
    order. A Dataset snapshots the DataContext when it is made, and the datasets made from it share
    that snapshot (so the setting also reaches the datasets `ds` was made from). The setting goes on
    that context: changing the global one around code that uses a dataset made earlier changes
    nothing (what `select_data._ordered` did until 2026-12-07)."""
    ds.context.execution_options.preserve_order = True
    return ds
