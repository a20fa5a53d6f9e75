"""The multi_capability recipe's problems: each capability's own demo splits (data/capabilities), of
the section's sizes from data.seed, mixed into one weak half, one strong half and one test split.

The strong half leaves here as questions only (`splits`); its gold is read by two readers alone,
`strong_half_gold`: the ceiling baseline's training set and the report, which judges after the fact
what the RM selection kept. No selection or training stage of the method reads it.
"""
from __future__ import annotations

import functools

from w2s_ray.data.capabilities import capability_splits
from w2s_ray.data.schema import ARITHMETIC, Problem
from w2s_ray.data.splits import questions_only

SPLITS = ("weak_train", "strong_train", "test")


@functools.lru_cache(maxsize=4)
def _per_capability(capabilities: tuple[str, ...], seed: int, n_weak: int, n_strong: int,
                    n_test: int) -> dict[str, dict[str, list[Problem]]]:
    return {name: capability_splits(name, seed, n_weak, n_strong, n_test) for name in capabilities}


def per_capability(mc, seed: int) -> dict[str, dict[str, list[Problem]]]:
    """{capability: {split: problems}}, the strong half WITH gold (callers: see the module doc)."""
    return _per_capability(tuple(mc.capabilities), seed, mc.n_weak_train, mc.n_strong_train, mc.n_test_per_level)


def splits(mc, seed: int) -> dict[str, list[Problem]]:
    """Every capability's splits, mixed (capabilities in the section's order); strong_train as questions only."""
    out = {name: [p for parts in per_capability(mc, seed).values() for p in parts[name]] for name in SPLITS}
    out["strong_train"] = questions_only(out["strong_train"])
    return out


def strong_half_gold(mc, seed: int) -> list[Problem]:
    """The strong half with gold solutions: the ceiling's training set and the report's judge only."""
    return [p for parts in per_capability(mc, seed).values() for p in parts["strong_train"]]


def capability_of(row: dict) -> str:
    """The capability of a problem or generation row (none or null: arithmetic)."""
    return row.get("capability") or ARITHMETIC
