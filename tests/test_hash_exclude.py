"""One rule for every recorded hash (config/base.hash_exclude): a field marked `Added(value)` hashes as
absent while it holds that value, a NOT_HASHED field never hashes; the config hash, the student recipe
record and a stage's own train settings all go through it."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from w2s_ray.config import RunConfig
from w2s_ray.config.base import NOT_HASHED, Added, hash_exclude
from w2s_ray.models.strong_student import StrongStudentRecipe, recipe_record
from w2s_ray.text.answers import DEFAULT_MARKERS
from w2s_ray.train.config import TrainConfig


class Inner(BaseModel):
    kept: int = 0
    new: Annotated[int, Added(1)] = 1


class Outer(BaseModel):
    where: Annotated[str, NOT_HASHED] = "here"
    inner: Inner = Inner()
    items: list[Inner] = []
    by_name: dict[str, Inner] = {}
    later: Annotated[list[str], Added(["a"])] = ["a"]


def _hashed(model: BaseModel, **kw) -> dict:
    return model.model_dump(mode="json", exclude=hash_exclude(model, **kw))


def test_an_added_field_hashes_as_absent_only_at_its_added_value_at_any_depth():
    outer = Outer(items=[Inner(), Inner(new=2)], by_name={"x": Inner(new=3), "y": Inner()})
    assert _hashed(outer) == {"inner": {"kept": 0}, "items": [{"kept": 0}, {"kept": 0, "new": 2}],
                              "by_name": {"x": {"kept": 0, "new": 3}, "y": {"kept": 0}}}
    assert _hashed(Outer(later=["b"], where="there"))["later"] == ["b"]  # another value is what it computes
    assert "later" in _hashed(Outer(), hashed_always={"later"})  # a record that took it as it came


def test_the_added_value_is_compared_as_json():
    class Recipe(BaseModel):
        styles: Annotated[tuple[str, ...], Added(())] = ()
        share: Annotated[float, Added(0.0)] = 0.0

    assert _hashed(Recipe(styles=(), share=0)) == {}
    assert _hashed(Recipe(styles=("words",))) == {"styles": ["words"]}


BASE = {"name": "t", "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"}}


def test_config_fields_at_their_added_value_keep_the_hash_and_others_change_it():
    base = RunConfig.model_validate(BASE).config_hash()
    at_added = {**BASE, "answer_markers": list(DEFAULT_MARKERS), "train": {"gpus_per_worker": 1.0, "max_steps": None},
                "strong": {"name": "s", "model": "m", "tensor_parallel_size": 1, "engine_kwargs": {}}}
    assert RunConfig.model_validate(at_added).config_hash() == base
    where = {**BASE, "run_dir": "elsewhere", "ray": {"address": "auto"}, "serve": {"port": 1},
             "train": {"max_failures": 5}}
    assert RunConfig.model_validate(where).config_hash() == base
    for changed in ({"answer_markers": ["####"]}, {"train": {"max_steps": 3}}, {"stage2": {"questions": 4}},
                    {"strong": {"name": "s", "model": "m", "tensor_parallel_size": 2}}):
        assert RunConfig.model_validate({**BASE, **changed}).config_hash() != base, changed


def test_an_unset_recipe_section_hashes_as_absent_unless_its_recipe_keeps_it():
    config = RunConfig.model_validate(BASE)
    hashed = config.model_dump(mode="json", exclude=hash_exclude(config))
    assert hashed["stage2"] is None  # w2s_reasoning's HASHED_UNSET
    assert not {"light_reasoner", "easy_to_hard", "supervision_mix"} & set(hashed)


def test_student_records_and_stage_train_settings_go_through_the_same_rule():
    assert "styles" not in recipe_record(StrongStudentRecipe(name="x"))
    assert recipe_record(StrongStudentRecipe(name="x", target_entities=0.5))["target_entities"] == 0.5
    own = TrainConfig(max_failures=4)
    assert set(hash_exclude(own)) == {"max_failures", "keep_engines", "gpus_per_worker", "report_to", "max_steps",
                                      "grpo", "gradient_checkpointing", "confidence"}
    assert set(hash_exclude(own, hashed_always={"gpus_per_worker", "report_to"})) == {
        "max_failures", "keep_engines", "max_steps", "grpo", "gradient_checkpointing", "confidence"}


def test_light_reasoner_eos_step_off_hashes_as_a_config_from_before_the_option():
    """eos_step is on by default (the authors'); off, the section hashes without it, as configs made
    before the option did, so their runs resume with `eos_step: false`."""
    base = {"name": "t", "recipe": "light_reasoner", "weak": [{"name": "w", "model": "m"}],
            "strong": {"name": "s", "model": "m"}}
    off = RunConfig.model_validate({**base, "light_reasoner": {"eos_step": False}})
    on = RunConfig.model_validate({**base, "light_reasoner": {}})
    assert "eos_step" not in off.light_reasoner.model_dump(exclude=hash_exclude(off.light_reasoner))
    assert on.light_reasoner.model_dump(exclude=hash_exclude(on.light_reasoner))["eos_step"] is True
    assert off.config_hash() != on.config_hash()


def test_gradient_checkpointing_at_auto_keeps_the_hashes_of_runs_from_before_the_field():
    """Before the field, training never checkpointed; `auto` (on GPU only) recomputes the same gradients,
    so it hashes as absent and those runs resume; an explicit choice is part of the hash."""
    base = RunConfig.model_validate(BASE).config_hash()
    auto = RunConfig.model_validate({**BASE, "train": {"gradient_checkpointing": "auto"}})
    assert auto.config_hash() == base
    for explicit in (True, False):
        assert RunConfig.model_validate({**BASE, "train": {"gradient_checkpointing": explicit}}).config_hash() != base
