"""The RL stage's `scorer` reward (a user's own scorer's column as the outcome reward) and the outcome
RM's pairs refused, by stage and counts, when the easy samples give too few (fast)."""
from __future__ import annotations

import pytest

from tests.planted_reward import addition_share
from w2s_ray.config import RunConfig
from w2s_ray.config.base import hash_exclude
from w2s_ray.recipes.easy_to_hard.rl_rewards import grpo_rows, orm_pairs

BASE = {"name": "t", "recipe": "easy_to_hard", "strong": {"name": "s", "model": "m"}}
PLANTED = {"name": "tests.planted_reward:AdditionShare", "column": "addition_share"}


def _rl(rl: dict):
    return RunConfig.model_validate({**BASE, "easy_to_hard": {"rl": rl}}).easy_to_hard.rl


def test_the_scorer_reward_needs_its_scorer_and_a_column_the_scorer_adds():
    rl = _rl({"rewards": ["scorer"], "scorer": PLANTED})
    assert rl.reward_scorer_spec().name == PLANTED["name"]
    with pytest.raises(ValueError, match="set both or neither"):
        _rl({"rewards": ["scorer"]})
    with pytest.raises(ValueError, match="set both or neither"):
        _rl({"rewards": ["prm"], "scorer": PLANTED})
    with pytest.raises(ValueError, match="'length' is not one scorer .* adds .*addition_share"):
        _rl({"rewards": ["scorer"], "scorer": {**PLANTED, "column": "length"}})
    with pytest.raises(ValueError, match="cannot import 'no_such_module'"):
        _rl({"rewards": ["scorer"], "scorer": {"name": "no_such_module:X", "column": "x"}})


def test_an_rl_section_without_the_scorer_hashes_as_before_the_field_was_added():
    config = RunConfig.model_validate({**BASE, "easy_to_hard": {"rl": {}}})
    assert "scorer" not in config.easy_to_hard.rl.model_dump(exclude=hash_exclude(config.easy_to_hard.rl))


def test_the_scorer_reward_is_its_column_one_per_sample_unscored_counts_zero():
    def rollout(i, text, share):
        return {"problem_id": "h1", "model": "p", "sample_index": i, "level": 4, "prompt": "q", "text": text,
                "finish_reason": "length", "addition_share": share, "n_generated_tokens": 3}

    texts = [" 1 + 2 = 3\n 3 - 1 = 2", " 4 * 2 = 8", " 5 + 5 = 10"]
    rows = [rollout(i, t, addition_share(t)) for i, t in enumerate(texts)] + [rollout(3, " 7", float("nan"))]
    selection = grpo_rows(rows, "scorer", None, process=False, column="addition_share")
    assert [r["reward"] for r in selection.rows] == [0.5, 0.0, 1.0, 0.0]
    mean = sum([0.5, 0.0, 1.0, 0.0]) / 4
    assert selection.extra["mean_reward"] == pytest.approx(mean)
    assert selection.rows[2]["advantage"] > selection.rows[0]["advantage"] > 0 > selection.rows[1]["advantage"]


def _sample(problem, i, correct):
    return {"problem_id": problem, "model": "policy-prm-samples", "sample_index": i, "level": 1,
            "question": "1 + 1?", "text": f"{i}\n#### {i}", "correct": correct}


def test_too_few_outcome_rm_pairs_is_an_error_naming_the_stage_and_the_counts():
    every_sample_right = [_sample("e1", 0, True), _sample("e1", 1, True), _sample("e2", 0, True)]
    with pytest.raises(ValueError, match=r"rl/orm/select: 0 pair\(s\).*of 2 easy problem\(s\) \(3 samples\), "
                                         r"2 had only right samples and 0 only wrong"):
        orm_pairs(every_sample_right, "rl/orm/select")
    one_pair = [_sample("e1", 0, True), _sample("e1", 1, False), _sample("e2", 0, False)]
    with pytest.raises(ValueError, match=r"1 pair\(s\).*fewer than 2.*0 had only right samples and 1 only wrong"):
        orm_pairs(one_pair, "rl/orm/select")
    enough = orm_pairs(one_pair + [_sample("e3", 0, False), _sample("e3", 1, True)])
    assert len(enough.rows) == 2 and enough.extra == {"all_right": 0, "all_wrong": 1}


def test_w2s_plan_asks_for_the_scorer_rewards_actors():
    from w2s_ray.raycluster.plan import stage_asks

    config = RunConfig.model_validate({**BASE, "easy_to_hard": {"rl": {"rewards": ["prm", "scorer"], "scorer": PLANTED}}})
    asks = {a.stage: a for a in stage_asks(config, "cpu", 2)}
    assert asks[f"score {PLANTED['name']}"].cpus == 0.25  # the class's own num_cpus
    assert "rl orm train" not in asks and "rl grpo train" in asks
