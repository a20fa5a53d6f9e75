"""run/shuffle.py: a shuffle's partitions grow as the square root of the data, so its pieces stay
large enough for Ray's object store instead of the driver's memory (tests/test_driver_memory.py
measures the driver itself), and a user's num_partitions wins."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2s_ray.run.shuffle import PIECE_BYTES, parquet_bytes, shuffle_blocks


def test_partitions_grow_as_the_square_root_of_the_bytes():
    assert [shuffle_blocks(n) for n in (0, 1, PIECE_BYTES, 4 * PIECE_BYTES - 1)] == [1, 1, 1, 1]
    assert shuffle_blocks(4 * PIECE_BYTES) == 2 and shuffle_blocks(100 * PIECE_BYTES) == 10
    assert shuffle_blocks(3 << 30) == 55  # MATH x 64 samples, ~3 GB: 3,025 pieces of ~1 MiB
    for n in (10 * PIECE_BYTES, 1000 * PIECE_BYTES, 10**6 * PIECE_BYTES):
        k = shuffle_blocks(n)
        assert n / (k * k) >= PIECE_BYTES  # every piece of an even split is at least PIECE_BYTES


def test_the_bytes_are_the_footers_uncompressed_sizes(tmp_path):
    files = []
    for i, n in enumerate((1000, 5000)):
        table = pa.table({"problem_id": [f"p{j:06d}" for j in range(n)], "text": ["x" * 40] * n})
        pq.write_table(table, tmp_path / f"{i}.parquet", row_group_size=700)
        files.append(str(tmp_path / f"{i}.parquet"))
    footers = [pq.ParquetFile(f).metadata for f in files]
    assert parquet_bytes(files) == sum(m.row_group(g).total_byte_size for m in footers
                                       for g in range(m.num_row_groups))
    # Before compression (after parquet's encodings: repeated text is dictionary-encoded, so this is
    # a lower bound on the rows in memory): not the files' compressed size.
    assert parquet_bytes(files) > sum(f.stat().st_size for f in tmp_path.iterdir())
    assert parquet_bytes([]) == 0


@pytest.mark.slow
def test_group_by_and_sort_by_plan_that_many_partitions(ray_local):
    from w2s_ray.run.shuffle import group_by, in_order, sort_by

    from ray.data.context import ShuffleStrategy

    ds = ray_local.data.range(100)
    for grouped, k in ((group_by(ds, "id", nbytes=100 * PIECE_BYTES), 10),
                       (group_by(ds, "id", nbytes=100 * PIECE_BYTES, num_partitions=3), 3)):  # the user's
        plan = grouped._dataset._logical_plan.dag
        assert type(plan).__name__ == "Repartition" and plan.num_outputs == k
        # A sort-based shuffle in tasks, not Ray Data's default hash shuffle through aggregator actors.
        assert grouped._dataset.context.shuffle_strategy == ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    assert ds.context.shuffle_strategy != ShuffleStrategy.SORT_SHUFFLE_PULL_BASED  # the input's own is untouched
    tens = group_by(ds.map(lambda r: {"id": r["id"], "ten": r["id"] // 10}), "ten", nbytes=9 * PIECE_BYTES)
    sums = tens.map_groups(lambda g: {"ten": g["ten"][:1], "n": [len(g["id"])]}, batch_format="numpy").take_all()
    assert sorted((r["ten"], r["n"]) for r in sums) == [(t, 10) for t in range(10)]  # whole groups
    plan = sort_by(ds, "id", nbytes=9 * PIECE_BYTES)._logical_plan.dag
    assert type(plan).__name__ == "Sort" and plan.input_dependencies[0].num_outputs == 3
    assert sort_by(ds, "id").take(3) == [{"id": 0}, {"id": 1}, {"id": 2}]  # its size from its blocks
    ordered = in_order(ray_local.data.range(10))
    assert ordered.map(lambda r: r).context.execution_options.preserve_order  # kept by what is made from it
    assert not ray_local.data.range(10).context.execution_options.preserve_order
