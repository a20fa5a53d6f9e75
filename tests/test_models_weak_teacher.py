"""Weak teachers: built once into the cache, loadable, reachable by name through resolve_model."""
from __future__ import annotations

import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.models import weak_teacher
from w2s_ray.models.cache import RECIPE_FILE
from w2s_ray.models.load import resolve_model
from w2s_ray.models.weak_teacher import TRAINING_REPORT, WeakTeacherRecipe, build_weak_teacher
from w2s_ray.text.prompts import zero_shot

TINY = WeakTeacherRecipe(
    name="tiny", hidden=32, layers=1, heads=1, n_train_problems=40, max_steps=3, batch=4, seq_len=128,
    split_weak_train=40, split_strong_train=10, split_test_per_level=2,
)


def test_a_teacher_is_trained_once_and_saved_as_a_loadable_directory(tmp_path, monkeypatch):
    calls = []
    real_train = weak_teacher.train_weak_teacher
    monkeypatch.setattr(weak_teacher, "train_weak_teacher", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    first = build_weak_teacher(TINY, cache_dir=tmp_path)
    assert build_weak_teacher(TINY, cache_dir=tmp_path) == first and len(calls) == 1
    recorded = json.loads((first / RECIPE_FILE).read_text())["recipe"]
    assert recorded == {**TINY.record(), "inputs": weak_teacher.build_inputs(TINY)}
    assert json.loads((first / TRAINING_REPORT).read_text())["steps"] == 3
    tokenizer = AutoTokenizer.from_pretrained(first)
    model = AutoModelForCausalLM.from_pretrained(first)
    enc = tokenizer([zero_shot("Mia has 3 apples. How many apples does Mia have now?")], return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= enc.input_ids.shape[1] + 3 and torch.equal(out[:, : enc.input_ids.shape[1]], enc.input_ids)


def test_resolve_model_builds_a_default_teacher_by_name(tmp_path, monkeypatch):
    monkeypatch.setitem(weak_teacher.DEFAULT_RECIPES, "weak-b", TINY.model_copy(update={"name": "weak-b"}))
    out = resolve_model("weak-b", cache_dir=tmp_path)
    assert out.parent == tmp_path and (out / "model.safetensors").is_file()
    assert resolve_model("weak-b", cache_dir=tmp_path) == out


def test_default_recipes_keep_their_cache_keys_and_share_one_split():
    # A recipe's fields are its cache key: a changed default would silently rebuild every demo teacher.
    base = {"hidden": 64, "layers": 3, "heads": 4, "head_dim": 32, "init_std": 0.1, "number_features": True,
            "train_seconds": None, "lr": 5e-3, "batch": 16, "seq_len": 128, "answer_only_loss": True, "seed": 0,
            "world_seed": 0, "split_weak_train": 20000, "split_strong_train": 2000, "split_test_per_level": 100}
    expected = {
        "weak-a": {"n_train_problems": 20000, "max_steps": 1600},
        "weak-b": {"n_train_problems": 5000, "max_steps": 800},
        "weak-c": {"n_train_problems": 2000, "max_steps": 400},
        "weak-r1": {"n_train_problems": 20000, "max_steps": 3000, "hidden": 128, "layers": 1},
    }
    for name, fields in expected.items():
        assert weak_teacher.DEFAULT_RECIPES[name].record() == {**base, "name": name, **fields}
