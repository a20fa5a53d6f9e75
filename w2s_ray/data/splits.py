"""Disjoint train/test splits keyed by question content, and the demo splits of the world.

A problem's split follows from its content hash alone, so the same question lands in the same split
whatever the input order or the other problems, and no question can sit in two splits.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from w2s_ray.data.schema import LEVELS, Problem, content_hash
from w2s_ray.data.world import generate_world

SPLIT_NAMES = ("weak_train", "strong_train", "test")
DEFAULT_FRACTIONS = {"weak_train": 0.4, "strong_train": 0.4, "test": 0.2}
# The demo world's partition is fixed, whatever sizes a config asks for: a weak teacher trained with
# one config's sizes must never have seen a question that another config puts in strong_train or test.
DEMO_FRACTIONS = {"weak_train": 0.8, "strong_train": 0.1, "test": 0.1}
_HASH_SPACE = 16**16  # content_hash is 16 hex digits


@dataclass(frozen=True)
class SplitResult:
    splits: dict[str, list[Problem]]  # keys SPLIT_NAMES, each list ordered by content hash
    duplicates: int  # problems dropped because an earlier-kept one had the same content hash


def _hash_position(problem: Problem) -> float:
    """Where the question's hash falls in [0, 1): uniform over questions, fixed per question."""
    return int(content_hash(problem.question), 16) / _HASH_SPACE


def deduplicate(problems: list[Problem]) -> tuple[list[Problem], int]:
    """One problem per content hash, ordered by hash, and how many were dropped.

    Of a group of duplicates the one with the smallest id is kept, so the choice does not depend on
    input order.
    """
    by_hash: dict[str, Problem] = {}
    for p in sorted(problems, key=lambda p: (content_hash(p.question), p.id)):
        by_hash.setdefault(content_hash(p.question), p)
    return list(by_hash.values()), len(problems) - len(by_hash)


def duplicate_groups(problems: list[Problem]) -> list[dict]:
    """Groups of problems with one question (by content hash): their ids, golds, the id that
    `deduplicate` keeps, and whether their golds disagree."""
    groups: dict[str, list[Problem]] = {}
    for p in problems:
        groups.setdefault(content_hash(p.question), []).append(p)
    out = []
    for members in groups.values():
        if len(members) > 1:
            members = sorted(members, key=lambda p: p.id)
            golds = sorted({str(p.gold) for p in members})
            out.append({"ids": [p.id for p in members], "golds": golds, "kept": members[0].id,
                        "conflicting_gold": len(golds) > 1})
    return out


def make_splits(problems: list[Problem], fractions: dict[str, float] | None = None) -> SplitResult:
    """Assign each distinct question to weak_train, strong_train or test by its content hash.

    fractions maps each split name to its expected share (they must sum to 1); realised sizes vary
    around them, as with any hash partition.
    """
    fractions = DEFAULT_FRACTIONS if fractions is None else fractions
    if set(fractions) != set(SPLIT_NAMES):
        raise ValueError(f"fractions must name exactly {SPLIT_NAMES}, got {sorted(fractions)}")
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-9:
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {fractions}")
    unique, duplicates = deduplicate(problems)
    bounds, acc = [], 0.0
    for name in SPLIT_NAMES:
        acc += fractions[name]
        bounds.append((acc, name))
    splits: dict[str, list[Problem]] = {name: [] for name in SPLIT_NAMES}
    for p in unique:
        position = _hash_position(p)
        # The last bound catches float rounding just below 1.0.
        name = next((n for bound, n in bounds if position < bound), SPLIT_NAMES[-1])
        splits[name].append(p)
    return SplitResult(splits=splits, duplicates=duplicates)


def questions_only(problems: list[Problem]) -> list[Problem]:
    """Copies without gold answer or solution: what the strong model may see of strong_train."""
    return [dataclasses.replace(p, gold=None, solution=None) for p in problems]


def _demo_split_sizes_met(result: SplitResult, n_weak: int, n_strong: int, n_test: int) -> bool:
    test_levels = [p.level for p in result.splits["test"]]
    return (
        len(result.splits["weak_train"]) >= n_weak
        and len(result.splits["strong_train"]) >= n_strong
        and all(test_levels.count(level) >= n_test for level in LEVELS)
    )


def build_demo_splits(
    seed: int, n_weak_train: int, n_strong_train: int, n_test_per_level: int,
    generate: Callable[[int, int], list[Problem]] = generate_world,
) -> dict[str, list[Problem]]:
    """World problems split by content hash, cut to exactly the asked sizes.

    The test split holds n_test_per_level problems of each level 1-5. The train splits mix all levels
    (about evenly, as the world generates them in turn). Every question's split follows from its
    hash and DEMO_FRACTIONS only, so splits of different sizes never cross: one size's weak_train
    is disjoint from any size's strong_train and test. `generate(n, seed)` draws the problems: the
    arithmetic world's, or another capability's (data/capabilities.generate_problems).
    """
    sizes = {
        "weak_train": n_weak_train,
        "strong_train": n_strong_train,
        "test": n_test_per_level * len(LEVELS),
    }
    if any(n < 0 for n in sizes.values()):
        raise ValueError(f"split sizes must be >= 0, got {sizes}")
    total = sum(sizes.values())
    if total == 0:
        return {name: [] for name in SPLIT_NAMES}
    # The pool grows until every split is covered at the fixed shares.
    pool = max(int(n / DEMO_FRACTIONS[name]) for name, n in sizes.items()) * 5 // 4 + 50
    while True:
        result = make_splits(generate(pool, seed), DEMO_FRACTIONS)
        if _demo_split_sizes_met(result, n_weak_train, n_strong_train, n_test_per_level):
            break
        pool *= 2
    test = []
    for level in LEVELS:
        test += [p for p in result.splits["test"] if p.level == level][:n_test_per_level]
    return {
        "weak_train": result.splits["weak_train"][:n_weak_train],
        "strong_train": result.splits["strong_train"][:n_strong_train],
        "test": sorted(test, key=lambda p: content_hash(p.question)),
    }
