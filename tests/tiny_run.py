"""A tiny loop config for tests: two small world models, the HF engine, one train worker."""
from __future__ import annotations

import os
from pathlib import Path

import yaml


def write_config(path: Path, run_dir: Path, models, **loop) -> Path:
    weak, strong = models
    teacher = dict(engine="hf", max_tokens=24, dtype="float32", batch_size=32)
    config = {
        "name": "tiny", "run_dir": str(run_dir), "ray": {"num_cpus": 2, "device": "cpu"},
        "data": {"source": "world", "seed": 0, "n_weak_train": 64, "n_strong_train": 24, "n_test_per_level": 3,
                 "n_demos": 16},
        "weak": [{"name": "weak", "model": weak, **teacher}],
        "strong": {"name": "strong", "model": strong, "shots": 2, **teacher},
        "eval": {"strong_base_shots": 0, "max_tokens": 24},
        "train": {"num_workers": 1, "epochs": 1, "per_device_batch_size": 8, "max_length": 128,
                  "lr": 1e-3, "logging": "none"},
        "loop": {"rounds": 1, "selection": "take_all", "baselines": ["weak", "strong_base"], **loop},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def write_e2h_config(path: Path, run_dir: Path, strong_model: str, name: str, **easy_to_hard) -> Path:
    """A tiny easy_to_hard run on the strong tiny model (the RL tests' common base): `easy_to_hard` is
    the recipe's section (its rl section included), the rest is shared."""
    teacher = dict(engine="hf", max_tokens=24, dtype="float32", batch_size=32)
    config = {
        "name": name, "recipe": "easy_to_hard", "run_dir": str(run_dir),
        "ray": {"num_cpus": 2, "device": "cpu"},
        "data": {"source": "world", "seed": 0, "n_weak_train": 96, "n_strong_train": 8, "n_test_per_level": 2},
        "strong": {"name": "strong", "model": strong_model, **teacher},
        "eval": {"strong_base_shots": 0, "max_tokens": 24},
        "train": {"num_workers": 1, "epochs": 1, "per_device_batch_size": 8, "max_length": 128, "lr": 1e-3,
                  "logging": "none"},
        "easy_to_hard": easy_to_hard,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def build_tiny_models() -> tuple[str, str]:
    """(weak, strong) model dirs: two small world models trained briefly (~1 min together), kept in
    the model cache's tests/ between sessions (keyed by recipe, like every built model)."""
    from w2s_ray.models.weak_teacher import WeakTeacherRecipe, build_weak_teacher

    cache = Path(os.environ.get("W2S_CACHE", Path(__file__).parent.parent / ".cache" / "w2s")) / "tests"
    common = dict(hidden=64, heads=2, layers=2, n_train_problems=2000, split_strong_train=50,
                  split_test_per_level=5)
    weak = build_weak_teacher(WeakTeacherRecipe(name="t-weak", max_steps=120, **common), cache, threads=2)
    strong = build_weak_teacher(WeakTeacherRecipe(name="t-strong", max_steps=60, seed=1, **common), cache, threads=2)
    return str(weak), str(strong)


TINY_CAPABILITIES = ("arithmetic", "logic")


def build_tiny_capability_models(capabilities=TINY_CAPABILITIES) -> tuple[str, str]:
    """(weak, strong) model dirs that know `capabilities`' target formats a little: two small models
    trained on each capability's weak half (models/weak_teacher.py), cached as build_tiny_models'."""
    from w2s_ray.models.weak_teacher import WeakTeacherRecipe, build_weak_teacher

    cache = Path(os.environ.get("W2S_CACHE", Path(__file__).parent.parent / ".cache" / "w2s")) / "tests"
    common = dict(hidden=64, heads=2, layers=2, n_train_problems=400, split_weak_train=400, split_strong_train=50,
                  split_test_per_level=5, capabilities=tuple(capabilities))
    weak = build_weak_teacher(WeakTeacherRecipe(name="t-cap-weak", max_steps=60, **common), cache, threads=2)
    strong = build_weak_teacher(WeakTeacherRecipe(name="t-cap-strong", max_steps=120, seed=1, **common), cache,
                                threads=2)
    return str(weak), str(strong)


def write_multicap_config(path: Path, run_dir: Path, models, capabilities=TINY_CAPABILITIES) -> Path:
    """A tiny multi_capability run: 2 capabilities, every part of the recipe at its smallest."""
    write_config(path, run_dir, models)
    raw = yaml.safe_load(path.read_text())
    del raw["loop"]
    raw["recipe"] = "multi_capability"
    raw["strong"]["shots"] = 0
    raw["multi_capability"] = {
        "capabilities": list(capabilities), "n_weak_train": 12, "n_strong_train": 6, "n_test_per_level": 1,
        "bootstrap_rounds": 2, "bootstrap_samples": 2, "first_epochs": 1, "second_epochs": 1,
        "rm": {"questions": 4, "samples": 2, "max_pairs": 1, "top_fraction": 0.5}}
    path.write_text(yaml.safe_dump(raw))
    return path
