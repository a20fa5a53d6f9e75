"""The multi_capability recipe's problems: each capability's own demo splits (data/capabilities), of
the section's sizes from data.seed, or its real dataset where the section's `sources` names one
(`real_splits`: Burns et al.'s halves by content hash), mixed into one weak half, one strong half and
one test split.

The strong half leaves here as questions only (`splits`); its gold is read by two readers alone,
`strong_half_gold`: the ceiling baseline's training set and the report, which judges after the fact
what the RM selection kept. No selection or training stage of the method reads it.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from w2s_ray.config import DataConfig
from w2s_ray.data.capabilities import capability_splits
from w2s_ray.data.schema import ARITHMETIC, InputError, Problem, capability_of as problem_capability
from w2s_ray.data.sources import file_splits
from w2s_ray.data.splits import questions_only

SPLITS = ("weak_train", "strong_train", "test")


def real_splits(name: str, source, seed: int) -> tuple[dict[str, list[Problem]], dict]:
    """One capability's splits from its real dataset (a CapabilitySource), WITH gold, each cut to its
    size in content-hash order, and what loading found (quarantined lines, duplicates)."""
    quarantine = str(Path(source.quarantine_dir) / name) if source.quarantine_dir else None
    data = DataConfig(source="files", train=source.train, test=source.test, format=source.format,
                      quarantine_dir=quarantine, seed=seed)
    splits, stats = file_splits(data)
    for split, path in (("weak_train", source.train), ("strong_train", source.train), ("test", source.test)):
        wrong = next((p for p in splits[split] if problem_capability(p) != name), None)
        if wrong is not None:
            raise InputError(path, None, "capability", f"problem {wrong.id!r} tests {problem_capability(wrong)}, "
                             f"but this file is the source of {name}")
    sizes = {"weak_train": source.n_weak_train, "strong_train": source.n_strong_train, "test": source.n_test}
    return {split: problems[:sizes[split]] for split, problems in splits.items()}, stats


@functools.lru_cache(maxsize=4)
def _per_capability(capabilities: tuple[str, ...], seed: int, n_weak: int, n_strong: int, n_test: int,
                    sources_json: str) -> tuple[dict[str, dict[str, list[Problem]]], dict[str, dict]]:
    from w2s_ray.recipes.multi_capability.config import CapabilitySource

    sources = {name: CapabilitySource(**s) for name, s in json.loads(sources_json).items()}
    out, stats = {}, {}
    for name in capabilities:
        if name in sources:
            out[name], stats[name] = real_splits(name, sources[name], seed)
        else:
            out[name] = capability_splits(name, seed, n_weak, n_strong, n_test)
    return out, stats


def _cached(mc, seed: int):
    sources = json.dumps({k: v.model_dump(mode="json") for k, v in mc.sources.items()}, sort_keys=True)
    return _per_capability(tuple(mc.capabilities), seed, mc.n_weak_train, mc.n_strong_train,
                           mc.n_test_per_level, sources)


def per_capability(mc, seed: int) -> dict[str, dict[str, list[Problem]]]:
    """{capability: {split: problems}}, the strong half WITH gold (callers: see the module doc)."""
    return _cached(mc, seed)[0]


def source_stats(mc, seed: int) -> dict[str, dict]:
    """{capability: what loading its real dataset found}, for the capabilities `sources` names."""
    return _cached(mc, seed)[1]


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
