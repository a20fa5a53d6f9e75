"""Built-in models are built as manifest stages: recipe and data hashes in, weights hash out."""
from __future__ import annotations

import json

from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.config import RunConfig
from w2s_ray.data.schema import Problem
from w2s_ray.models import strong_student
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, corpus_hash, student_corpus
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.model_builds import build_models

TINY = "world-student-tiny"


def _context(tmp_path, weak_model: str) -> RunContext:
    config = RunConfig.model_validate({
        "name": "builds", "run_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
        "weak": [{"name": "w", "model": weak_model}], "strong": {"name": "s", "model": TINY}})
    manifest = Manifest.create(config.run_dir, config.model_dump(mode="json"), config.config_hash())
    return RunContext(config, manifest, "cpu", {"test": [Problem(id="x", question="q", gold="1", solution=None, level=1, source="t")]}, {})


def test_the_student_is_pretrained_once_as_a_stage_and_then_found(tmp_path, monkeypatch):
    calls = []
    real = strong_student.train_strong_student
    monkeypatch.setattr(strong_student, "train_strong_student", lambda *a, **k: calls.append(1) or real(*a, **k))
    ctx = _context(tmp_path, weak_model=str(tmp_path / "not-built-in"))
    build_models(ctx)
    record = ctx.manifest.record(f"models/{TINY}/build")
    corpus = corpus_hash(student_corpus(DEFAULT_STUDENTS[TINY]))
    assert record["inputs"]["data"] == corpus == record["metrics"]["build"]["corpus_sha256"]
    assert record["metrics"]["build"]["steps"] == DEFAULT_STUDENTS[TINY].max_steps
    path = record["outputs"]["model"]["path"]
    assert ctx.model_path(TINY) == path and len(calls) == 1
    assert ctx.manifest.stages() == [f"models/{TINY}/build"]  # the non-built-in weak model is not a build
    AutoModelForCausalLM.from_pretrained(path)
    assert AutoTokenizer.from_pretrained(path)("So the answer is 7.")["input_ids"]

    # A second run finds the model in the cache: a stage of its own, no training.
    other = _context(tmp_path / "second", weak_model=str(tmp_path / "not-built-in"))
    other.config.cache_dir = str(tmp_path / "cache")
    build_models(other)
    assert len(calls) == 1
    assert other.manifest.record(f"models/{TINY}/build")["outputs"]["model"]["sha256"] == \
        record["outputs"]["model"]["sha256"]
    # Resuming the same run verifies the record instead of building.
    again = RunContext(ctx.config, Manifest.load(ctx.run_dir), "cpu", ctx.splits, {})
    assert again.model_path(TINY) == path and len(calls) == 1
    assert json.loads(ctx.manifest.path.read_text())["stages"][f"models/{TINY}/build"]["inputs"]["recipe"]


def test_a_changed_corpus_under_the_same_recipe_is_a_new_build(tmp_path, monkeypatch):
    # Keyed on the recipe alone, the cache would hand a run a student pretrained on an earlier
    # corpus after the corpus code changed (measured: 23 % vs 50.5 % zero-shot).
    from w2s_ray.data import pretrain_corpus

    recipe = DEFAULT_STUDENTS[TINY]
    first = strong_student.build_strong_student(recipe, tmp_path)
    assert strong_student.build_strong_student(recipe, tmp_path) == first
    monkeypatch.setattr(pretrain_corpus, "ANSWER_SENTENCE", "Hence the answer is {n}.")
    strong_student.student_corpus.cache_clear()
    try:
        second = strong_student.build_strong_student(recipe, tmp_path)
    finally:
        strong_student.student_corpus.cache_clear()
    assert second != first
    keys = [json.loads((d / "recipe.json").read_text())["recipe"]["inputs"]["corpus_sha256"] for d in (first, second)]
    assert keys[0] != keys[1]


def test_the_same_recipe_under_another_name_is_the_same_build(tmp_path, monkeypatch):
    calls = []
    real = strong_student.train_strong_student
    monkeypatch.setattr(strong_student, "train_strong_student", lambda *a, **k: calls.append(1) or real(*a, **k))
    recipe = DEFAULT_STUDENTS[TINY]
    first = strong_student.build_strong_student(recipe, tmp_path)
    renamed = recipe.model_copy(update={"name": "my-student"})
    assert strong_student.build_strong_student(renamed, tmp_path) == first and len(calls) == 1
    other = recipe.model_copy(update={"styles": ("words",)})  # what it is built from is the key
    assert strong_student.build_strong_student(other, tmp_path) != first and len(calls) == 2


def test_student_recipes_record_added_fields_only_when_set():
    """A recipe field added later must not change the recorded recipe of students that leave it
    unset: a run's model-build stage and the model cache are keyed on it (a changed key means a
    resumed run re-checks its build, and every cache rebuilds its students)."""
    from w2s_ray.models.built_in import built_in
    from w2s_ray.models.strong_student import recipe_record

    assert "target_entities" not in recipe_record(DEFAULT_STUDENTS["world-student"])
    assert recipe_record(DEFAULT_STUDENTS["world-student-entities"])["target_entities"] == 0.5
    # The demo student's recorded recipe (the stage's "recipe" input; its "data" input, the corpus
    # hash, takes ~10 s to compute and is not asked). Pinned: a change rebuilds every cache's student and
    # reruns every run's build stage, so it is made on purpose only.
    assert built_in("world-student").recipe_sha256() == "712283a96f48dfec"
