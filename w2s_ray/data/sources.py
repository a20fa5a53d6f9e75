"""The run's problem splits, from the config: the demo world, or a train file plus a test file.

The strong model's half of the training questions never carries gold here: strong_train is
stripped with `questions_only` before it leaves this module.

Files are checked as a whole: repeated questions are dropped and counted (a repeat with another gold
is reported), and a test question that is also a training question is refused.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from w2s_ray.config import DataConfig
from w2s_ray.data.loaders import load_problems
from w2s_ray.data.schema import InputError, Problem, content_hash
from w2s_ray.data.splits import build_demo_splits, deduplicate, duplicate_groups, make_splits, questions_only

def _load(spec: str, cfg: DataConfig, name: str) -> tuple[list[Problem], int]:
    quarantine = str(Path(cfg.quarantine_dir) / f"{name}.quarantine.jsonl") if cfg.quarantine_dir else None
    result = load_problems(spec, cfg.format, quarantine=quarantine, seed=cfg.seed)
    return result.problems, result.quarantined


def _all_splits(cfg: DataConfig) -> tuple[dict[str, list[Problem]], dict]:
    if cfg.source == "world":
        splits = build_demo_splits(cfg.seed, cfg.n_weak_train, cfg.n_strong_train, cfg.n_test_per_level)
        return splits, {}
    return file_splits(cfg)


def file_splits(cfg: DataConfig) -> tuple[dict[str, list[Problem]], dict]:
    """cfg.train's two halves by content hash (Burns et al.'s weak and strong halves) and cfg.test, with
    gold throughout, each ordered by content hash; stats: quarantined lines and duplicates per file."""
    train, q_train = _load(cfg.train, cfg, "train")
    test, q_test = _load(cfg.test, cfg, "test")
    train_dupes, test_dupes = duplicate_groups(train), duplicate_groups(test)
    test, _ = deduplicate(test)
    halves = make_splits(train, {"weak_train": 0.5, "strong_train": 0.5, "test": 0.0}).splits
    _refuse_overlap(cfg.test, test, halves)
    splits = {"weak_train": halves["weak_train"], "strong_train": halves["strong_train"], "test": test}
    stats = {
        "quarantined": {"train": q_train, "test": q_test},
        "duplicates": {"train": sum(len(g["ids"]) - 1 for g in train_dupes),
                       "test": sum(len(g["ids"]) - 1 for g in test_dupes)},
    }
    return splits, stats


def _refuse_overlap(test_path: str, test: list[Problem], halves: dict[str, list[Problem]]) -> None:
    """A test question that is also a training question would be graded on what was trained on."""
    train_ids = {content_hash(p.question): (name, p.id) for name, ps in halves.items() for p in ps}
    shared = [(p.id, *train_ids[content_hash(p.question)]) for p in test if content_hash(p.question) in train_ids]
    if shared:
        by_split = {name: sum(1 for _, n, _ in shared if n == name) for name in ("weak_train", "strong_train")}
        test_id, split, train_id = shared[0]
        raise InputError(test_path, None, "question",
                         f"{len(shared)} test questions are also training questions ({by_split}); e.g. test id "
                         f"{test_id!r} is {split} id {train_id!r}. Remove them from one of the files.")


def data_hash(splits: dict[str, list[Problem]]) -> str:
    """The content of the splits: stage inputs carry it, so edited data under the same path is seen."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        for problem in splits[name]:
            digest.update(json.dumps([name, problem.to_row()], sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:16]


def load_splits(cfg: DataConfig) -> tuple[dict[str, list[Problem]], dict]:
    """({weak_train, strong_train, test}, stats: sizes, and for files quarantined lines, duplicates
    dropped and conflicting gold, per file, and the content hash).

    strong_train comes back as questions only.
    """
    splits, stats = _all_splits(cfg)
    stats = {"sizes": {k: len(v) for k, v in splits.items()}, **stats, "data_hash": data_hash(splits)}
    splits["strong_train"] = questions_only(splits["strong_train"])
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
