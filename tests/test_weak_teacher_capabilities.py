"""A weak teacher of several capabilities (issue 28): it trains on each capability's weak half and
reads their vocabulary; a teacher without them keeps its recipe record, data and vocabulary."""
from __future__ import annotations

from w2s_ray.data.capabilities import capability_splits
from w2s_ray.models.weak_teacher import DEFAULT_RECIPES, WeakTeacherRecipe, build_inputs, training_problems
from w2s_ray.models.word_tokenizer import build_world_tokenizer, vocabulary_sha256

SMALL = dict(n_train_problems=6, split_weak_train=12, split_strong_train=4, split_test_per_level=1)


def test_a_teacher_without_capabilities_records_what_it_always_did():
    recipe = DEFAULT_RECIPES["weak-a"]
    assert "capabilities" not in recipe.record()
    assert set(recipe.record()) == set(recipe.model_dump()) - {"capabilities"}
    plain = WeakTeacherRecipe(name="t", **SMALL)
    assert build_inputs(plain)["vocabulary_sha256"] == vocabulary_sha256(build_world_tokenizer())


def test_a_capability_teacher_trains_on_each_weak_half_with_their_words():
    recipe = WeakTeacherRecipe(name="t", capabilities=("arithmetic", "logic"), **SMALL)
    assert recipe.record()["capabilities"] == ["arithmetic", "logic"]
    problems = training_problems(recipe)
    logic = capability_splits("logic", 0, 12, 4, 1)
    assert [p.capability for p in problems[:4]] == [None, "logic", None, "logic"] and len(problems) == 12
    assert {p.id for p in problems if p.capability} == {p.id for p in logic["weak_train"][:6]}
    assert not {p.id for p in problems} & {p.id for p in [*logic["strong_train"], *logic["test"]]}
    assert build_inputs(recipe)["vocabulary_sha256"] == vocabulary_sha256(build_world_tokenizer(("logic",)))
    assert build_inputs(recipe)["vocabulary_sha256"] != build_inputs(WeakTeacherRecipe(name="t", **SMALL))["vocabulary_sha256"]
