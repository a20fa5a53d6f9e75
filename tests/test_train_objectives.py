"""Training objectives registered by name: the built-in ones, a new one added by one call, and the
driver path that validates a stage's rows with the objective's own check before Ray Train starts."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.objectives import OBJECTIVES, get_objective, register_objective, train_objective
from w2s_ray.train.preference_worker import preference_loop
from w2s_ray.train.sft_worker import sft_loop


def test_the_built_in_objectives_are_registered_with_their_loops():
    assert {"sft", "dpo", "orpo"} <= set(OBJECTIVES.names())
    assert get_objective("sft").loop is sft_loop
    assert get_objective("dpo").loop is get_objective("orpo").loop is preference_loop


def test_an_unknown_objective_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ValidationError, match=r"objective[\s\S]*unknown training objective 'ppo'; known training objectives: .*dpo"):
        TrainConfig(objective="ppo")


def _toy_loop(loop_config: dict) -> None:  # never run: the rows check below refuses first
    raise AssertionError("the loop must not start on rows its objective refused")


def _toy_rows(rows):
    for i, row in enumerate(rows):
        if not isinstance(row.get("text"), str):
            raise ValueError(f"toy row {i} needs a string 'text'")
    return [{"text": row["text"]} for row in rows]


def test_a_new_objective_is_one_call_and_its_rows_check_runs_before_training(tmp_path):
    register_objective("toy_objective", loop=_toy_loop, rows=_toy_rows)
    config = TrainConfig(objective="toy_objective")  # accepted by the config from now on
    assert get_objective(config.objective).rows([{"text": "a", "extra": 1}]) == [{"text": "a"}]
    with pytest.raises(ValueError, match="toy row 1 needs a string 'text'"):
        train_objective([{"text": "a"}, {"text": 3}], tmp_path, tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


def test_a_name_taken_by_another_loop_is_refused():
    with pytest.raises(ValueError, match="'sft' is already registered"):
        register_objective("sft", loop=_toy_loop, rows=_toy_rows)
