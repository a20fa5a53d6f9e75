"""Which training rows a Ray Train rank holds: its own shard, equal in length on every rank.

Rows are numbered in their stage's order (a stage's files in manifest order, or the driver's list).
With `world` ranks, each holds ceil(n / world) rows: rank r the rows r, r + world, r + 2 * world, ...
of that order, the last ranks topped up from the first rows, as torch's DistributedSampler pads
(without its shuffle: the trainer shuffles each rank's rows every epoch). So every rank takes the
same number of optimizer steps (a rank with fewer would hang in the next collective, DeepSpeed's
especially) and an epoch covers every row once, plus at most world - 1 padding repeats. With one
rank the shard is every row in order: the training is what it was when every rank got all rows.

Strided, not contiguous: rows of one problem sit together in a stage's files, and striding spreads
them over the ranks. Ray Data's streaming_split(equal=True) was not used: it hands out blocks as
the ranks ask for them (not reproducible from run to run) and drops rows to make the splits equal.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


def shard_length(n: int, world: int) -> int:
    """Rows per rank, padding included: ceil(n / world)."""
    if n < 1 or world < 1:
        raise ValueError(f"a shard needs at least one row and one rank, got {n} rows for {world} ranks")
    return -(-n // world)


def shard_indices(n: int, rank: int, world: int) -> list[int]:
    """The row numbers rank `rank` of `world` trains on, in order (see the module docstring)."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not one of {world} ranks")
    return [position % n for position in range(rank, shard_length(n, world) * world, world)]


class ShardCollector:
    """Keeps this rank's rows out of a stream of all n rows offered in order, holding no others."""

    def __init__(self, n: int, rank: int, world: int):
        self.n = n
        self._slots: dict[int, list[int]] = {}
        for slot, index in enumerate(shard_indices(n, rank, world)):
            self._slots.setdefault(index, []).append(slot)
        self._rows: list[dict | None] = [None] * shard_length(n, world)
        self.offered = 0

    def offer(self, row: dict) -> None:
        """The next row of the stream (row number `offered`)."""
        for slot in self._slots.get(self.offered, ()):
            self._rows[slot] = row
        self.offered += 1

    def rows(self) -> list[dict]:
        if self.offered != self.n:
            raise ValueError(f"expected {self.n} training rows, read {self.offered}")
        return self._rows  # type: ignore[return-value]  (every slot filled: each index < n was offered)


@dataclass
class RankRows:
    """What one rank trains and evaluates on."""

    train: list[dict]  # its shard of the training rows
    n_train: int  # the training rows over all ranks, padding not counted
    holdout: list[dict] | None = None  # early stopping's held-out rows, all of them on every rank


def split_rank_rows(rows: Iterator[dict] | Iterable[dict], n: int, rank: int, world: int,
                    held: set[str] | None = None, n_held: int = 0) -> RankRows:
    """A rank's rows from a stream of all n (validated) rows in order. `held`: the prompts early
    stopping holds out (early_stopping.held_prompts) and `n_held` the rows that have them; those rows
    go to `holdout`, whole, and the rest are sharded."""
    n_train = n - n_held
    collector = ShardCollector(n_train, rank, world) if n_train > 0 else None
    holdout: list[dict] | None = [] if held is not None else None
    seen = 0
    for row in rows:
        seen += 1
        if held is not None and row["prompt"] in held:
            holdout.append(row)
        elif collector is not None and collector.offered < n_train:
            collector.offer(row)
        else:
            raise ValueError(f"expected {n_train} training rows, read more")
    if seen != n:
        raise ValueError(f"expected {n} rows, read {seen}")
    if collector is None:
        raise ValueError("no training rows left once the holdout was taken")
    return RankRows(train=collector.rows(), n_train=n_train, holdout=holdout)
