"""The testbed's capabilities (issue 28): arithmetic word problems (data/world.py) and, one module
each here, temporal ordering, compositional commands, logic and multiple choice over facts.

A module registers its capability by existing here (`register_capability(CAPABILITY)`), as scorers
and objectives do. Arithmetic keeps its own generator, corpus and checker (data/world.py,
data/pretrain_corpus.py, score/answer_checker.py) and its problems carry no `capability` field, so
everything built before capabilities existed is unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

from w2s_ray.data.capabilities.base import Capability, generate
from w2s_ray.data.schema import ARITHMETIC, LEVELS, Problem
from w2s_ray.registry import Registry

CAPABILITIES: Registry[Capability] = Registry("capability", (__name__,), error=ValueError,
                                              origin=lambda c: c.sample.__module__)


def register_capability(capability: Capability) -> Capability:
    if capability.name == ARITHMETIC:
        raise ValueError(f"{ARITHMETIC!r} is the world's own capability (data/world.py)")
    return CAPABILITIES.add(capability.name, capability)


def capability_names() -> list[str]:
    """Every capability, arithmetic first."""
    return [ARITHMETIC, *CAPABILITIES.names()]


def get_capability(name: str) -> Capability:
    """A registered capability other than arithmetic (ValueError naming the known ones)."""
    return CAPABILITIES.get(name)


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """`names` as a tuple, each a known capability named once (ValueError naming the bad one)."""
    known = capability_names()
    for name in names:
        if name not in known:
            raise ValueError(f"unknown capability {name!r}; known: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"capabilities named twice: {sorted(n for n in set(names) if list(names).count(n) > 1)}")
    return tuple(names)


def check_listed(names: Sequence[str]) -> tuple[str, ...]:
    """A model recipe's `capabilities`: check_names, and at least one."""
    if not names:
        raise ValueError("name at least one capability")
    return check_names(names)


def generate_problems(name: str, n: int, seed: int, levels: Sequence[int] = LEVELS) -> list[Problem]:
    """n distinct problems of one capability, the same for a seed (arithmetic: data/world.py's)."""
    if name == ARITHMETIC:
        from w2s_ray.data.world import generate_world

        return generate_world(n, seed, tuple(levels))
    return generate(get_capability(name), n, seed, levels)


def vocabulary_texts(names: Sequence[str]) -> list[str]:
    """Every word the named capabilities other than arithmetic write (for the word tokenizer)."""
    return [text for name in check_names(names) if name != ARITHMETIC for text in get_capability(name).vocabulary()]


def capability_splits(name: str, seed: int, n_weak_train: int, n_strong_train: int,
                      n_test_per_level: int) -> dict[str, list[Problem]]:
    """One capability's demo splits, by content hash as the arithmetic world's (data/splits.py)."""
    from w2s_ray.data.splits import build_demo_splits

    return build_demo_splits(seed, n_weak_train, n_strong_train, n_test_per_level,
                             generate=lambda n, s: generate_problems(name, n, s))
