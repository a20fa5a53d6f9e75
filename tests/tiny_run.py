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
