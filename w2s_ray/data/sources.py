"""The run's problem splits, from the config: the demo world, or a train file plus a test file.

The strong model's half of the training questions never carries gold here: strong_train is
stripped with `questions_only` before it leaves this module.
"""
from __future__ import annotations

from pathlib import Path

from w2s_ray.config import DataConfig
from w2s_ray.data.loaders import load_problems
from w2s_ray.data.schema import Problem
from w2s_ray.data.splits import build_demo_splits, make_splits, questions_only


def _load(spec: str, cfg: DataConfig, name: str) -> tuple[list[Problem], int]:
    quarantine = str(Path(cfg.quarantine_dir) / f"{name}.quarantine.jsonl") if cfg.quarantine_dir else None
    result = load_problems(spec, cfg.format, quarantine=quarantine)
    return result.problems, result.quarantined


def _all_splits(cfg: DataConfig) -> tuple[dict[str, list[Problem]], dict]:
    if cfg.source == "world":
        splits = build_demo_splits(cfg.seed, cfg.n_weak_train, cfg.n_strong_train, cfg.n_test_per_level)
        return splits, {}
    train, q_train = _load(cfg.train, cfg, "train")
    test, q_test = _load(cfg.test, cfg, "test")
    halves = make_splits(train, {"weak_train": 0.5, "strong_train": 0.5, "test": 0.0}).splits
    splits = {"weak_train": halves["weak_train"], "strong_train": halves["strong_train"], "test": test}
    return splits, {"train": q_train, "test": q_test}


def load_splits(cfg: DataConfig) -> tuple[dict[str, list[Problem]], dict]:
    """({weak_train, strong_train, test}, stats with counts and quarantined lines).

    strong_train comes back as questions only.
    """
    splits, quarantined = _all_splits(cfg)
    splits["strong_train"] = questions_only(splits["strong_train"])
    stats = {"sizes": {k: len(v) for k, v in splits.items()}, "quarantined": quarantined}
    return splits, stats


def strong_train_with_gold(cfg: DataConfig) -> list[Problem]:
    """The strong half WITH gold solutions: for the gold-trained ceiling baseline only.

    Nothing in weak-to-strong selection or training may call this; the gold-leak test checks it.
    """
    return _all_splits(cfg)[0]["strong_train"]


def demo_pool(weak_train: list[Problem], n: int) -> list[dict]:
    """Few-shot demonstrations: gold solutions from the weak half (never from strong_train)."""
    with_solutions = [p.to_row() for p in weak_train if p.solution]
    return with_solutions[:n]
