"""The easy_to_hard recipe's RL stage, its pure parts (fast): the config section, the no-gold guarantee,
rollout rewards -> GRPO advantages, the outcome RM's pairs, the report's `rl` block and rl_* findings
from a hand-made manifest, and `w2s plan`'s RL asks. The tiny run end to end is tests/test_e2h_rl_run.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.gold_trap import trapped
from w2s_ray.config import RunConfig, load_config
from w2s_ray.config.base import hash_exclude
from w2s_ray.recipes.easy_to_hard.rl import iteration_problems
from w2s_ray.recipes.easy_to_hard.rl_config import RlConfig
from w2s_ray.recipes.easy_to_hard.rl_rewards import grpo_rows, orm_pairs, step_char_ends, without_gold
from w2s_ray.select.advantages import outcome_advantages, process_advantages
from w2s_ray.text.steps import solution_steps

REPO = Path(__file__).resolve().parent.parent
BASE = {"name": "t", "recipe": "easy_to_hard", "strong": {"name": "s", "model": "m"}}


def test_rl_is_off_by_default_and_leaves_the_config_hash_alone():
    off = RunConfig.model_validate({**BASE, "easy_to_hard": {}})
    assert off.easy_to_hard.rl is None
    assert "rl" not in off.easy_to_hard.model_dump(exclude=hash_exclude(off.easy_to_hard))
    on = RunConfig.model_validate({**BASE, "easy_to_hard": {"rl": {}}})
    assert on.easy_to_hard.rl == RlConfig() and on.easy_to_hard.rl.rewards == ["prm"]
    assert on.config_hash() != off.config_hash()


@pytest.mark.parametrize("rl, error", [({"rewards": ["prm", "prm"]}, "listed twice"),
                                       ({"rewards": []}, "at least 1"), ({"rewards": ["judge"]}, "prm"),
                                       ({"group_size": 1}, "greater than or equal to 2"),
                                       ({"iterations": 0}, "greater than or equal to 1"),
                                       ({"temperature": 0.0}, "greater than 0")])
def test_bad_rl_settings_are_refused_by_name(rl, error):
    with pytest.raises(ValueError, match=error):
        RunConfig.model_validate({**BASE, "easy_to_hard": {"rl": rl}})


def test_the_grpo_train_config_is_the_runs_with_the_rl_settings():
    config = load_config(REPO / "configs/demo-e2h-rl.yaml")
    rl = config.easy_to_hard.rl
    assert rl.rewards == ["prm", "orm", "gold"] and rl.iterations == 2
    grpo = rl.grpo_train_config(config.train)
    assert grpo.objective == "grpo" and grpo.lr == rl.lr and grpo.grpo.beta == 0.04
    assert grpo.per_device_batch_size == config.train.per_device_batch_size
    assert rl.orm_train_config(config.train).objective == "reward"


def test_rollouts_of_the_learned_rewards_never_see_gold():
    problem = {"id": "p1", "question": "q", "gold": "7", "solution": "a\n#### 7", "level": 5, "source": "w"}
    assert without_gold(problem) == {**problem, "gold": None, "solution": None}
    assert problem["gold"] == "7"  # the split's row is not changed


def test_iteration_windows_move_through_the_hard_problems_and_wrap():
    pool = [{"id": str(i)} for i in range(5)]
    assert [p["id"] for p in iteration_problems(pool, 1, 2)] == ["0", "1"]
    assert [p["id"] for p in iteration_problems(pool, 3, 2)] == ["4", "0"]
    assert len(iteration_problems(pool, 1, 9)) == 5
    with pytest.raises(ValueError, match="no problem of the hard levels"):
        iteration_problems([], 1, 2)


@pytest.mark.parametrize("step_sep, text", [
    ("line", "a = 1 + 2 = 3\n  b = 3 * 2 = 6  \n\n#### 6\nextra"),
    ("line", "x = 2 #### 2"), ("line", "no answer\nat all"), ("line", "#### 5"),
    ("blank_line", "first step\nstill first\n\n  second  \n \n#### 9")])
@pytest.mark.parametrize("with_answer", [True, False])
def test_step_ends_are_where_each_prm_step_ends_in_the_text(step_sep, text, with_answer):
    steps = solution_steps(text, step_sep, with_answer)
    ends = step_char_ends(text, step_sep, with_answer)
    assert len(ends) == len(steps)
    for step, end in zip(steps, ends):
        assert text[:end].rstrip() == text[:end] and text[:end].endswith(step.split("\n")[-1].strip())


@pytest.fixture(scope="module")
def tokenizer():
    from w2s_ray.models.word_tokenizer import build_world_tokenizer

    return build_world_tokenizer()


def _rollout(i, text, problem="h1", **scores):
    return {"problem_id": problem, "model": "rl-prm-rollouts", "sample_index": i, "level": 5, "prompt": "Question: q\n",
            "text": text, "finish_reason": "stop", "stop_token_id": 0, "n_generated_tokens": 7, **scores}


def test_orm_and_outcome_prm_rewards_give_group_normalised_advantages_without_reading_gold(tokenizer):
    rows = [_rollout(0, "a = 1\n#### 1", reward=0.9, prm_min=0.2),
            _rollout(1, "b = 2\n#### 2", reward=0.1, prm_min=0.8),
            _rollout(2, "   ", reward=5.0, prm_min=0.5),  # empty: dropped before its group is normalised
            _rollout(0, "c\n#### 3", problem="h2", reward=0.3, prm_min=0.1)]  # alone in its group: no baseline
    orm = grpo_rows([trapped(r) for r in rows], "orm", tokenizer, process=False)
    assert [r["advantage"] for r in orm.rows] == pytest.approx(outcome_advantages([0.9, 0.1]))
    assert orm.dropped == {"empty_completion": 1, "group_too_small": 1} and orm.kept == 2
    assert orm.rows[0]["completion"] == "a = 1\n#### 1" and orm.rows[0]["eos"] is True
    assert orm.stats()["mean_reward"] == pytest.approx(0.5)
    prm = grpo_rows([trapped(r) for r in rows], "prm", tokenizer, process=False, aggregate="prm_min")
    assert [r["advantage"] for r in prm.rows] == pytest.approx(outcome_advantages([0.2, 0.8]))


def test_process_rewards_put_each_steps_score_on_its_tokens(tokenizer):
    texts = ["a = 1 + 1 = 2\nb = 2 * 3 = 6\n#### 6", "a = 1 + 1 = 3\n#### 3"]
    rows = [_rollout(0, texts[0], step_scores=[0.9, 0.8, 0.7], prm_min=0.7),
            _rollout(1, texts[1], step_scores=[0.2, float("nan")], prm_min=float("nan"))]
    rows[1]["stop_token_id"] = -1  # ended by a stop string: no EOS appended
    out = grpo_rows([trapped(r) for r in rows], "prm", tokenizer, process=True, step_sep="line", with_answer=True)
    layouts = []
    for text, eos in zip(texts, (True, False)):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ends = [max(t for t, (s, _) in enumerate(enc["offset_mapping"]) if s < e)
                for e in step_char_ends(text, "line", True)]
        layouts.append((ends, len(enc["input_ids"]) + eos))
    # the unscored step (NaN) counts as the lowest PRM score, 0
    expected = process_advantages([[0.9, 0.8, 0.7], [0.2, 0.0]], [e for e, _ in layouts], [n for _, n in layouts])
    for row, want in zip(out.rows, expected, strict=True):
        assert row["advantages"] == pytest.approx(want)
    assert out.rows[0]["advantages"][-1] == 0.0  # the EOS token: after the last step
    assert [r["eos"] for r in out.rows] == [True, False]
    assert out.stats()["supervision"] == "process" and out.stats()["mean_reward"] == pytest.approx(0.35)


def test_an_unscored_solution_gets_the_lowest_reward_at_its_last_token(tokenizer):
    rows = [_rollout(0, "a = 1 + 1 = 2\n#### 2", step_scores=[0.9, 0.9], prm_min=0.9),
            _rollout(1, "#### 2", step_scores=[], prm_min=float("nan"))]
    out = grpo_rows(rows, "prm", tokenizer, process=True)
    bare = out.rows[1]["advantages"]
    assert bare[-1] < 0 and len(set(bare)) == 1  # every token of it below the group's mean


def test_the_gold_upper_bound_reads_correct():
    rows = [_rollout(0, "a\n#### 1", correct=True), _rollout(1, "b\n#### 2", correct=False)]
    out = grpo_rows(rows, "gold", None, process=False)
    assert out.rows[0]["advantage"] > 0 > out.rows[1]["advantage"]
    with pytest.raises(AssertionError, match="read 'correct'"):
        grpo_rows([trapped(r) for r in rows], "gold", None, process=False)


def test_the_outcome_rm_pairs_a_right_and_a_wrong_easy_sample_of_one_problem():
    def sample(problem, i, correct, text):
        return {"problem_id": problem, "model": "policy-prm-samples", "sample_index": i, "level": 1,
                "question": "1 + 1?", "text": text, "correct": correct}

    rows = [sample("e1", 0, True, "1 + 1 = 2\n#### 2"), sample("e1", 1, False, "1 + 1 = 3\n#### 3"),
            sample("e1", 2, True, "2\n#### 2"), sample("e2", 0, True, "x\n#### 4"),
            sample("e3", 0, False, "1 + 1 = 4\n#### 4"), sample("e3", 1, True, "#### 2")]
    pairs = orm_pairs(rows)
    assert pairs.kept == 2 and pairs.dropped == {"no_right_and_wrong": 1} and len(pairs.rows) == 2
    pair = pairs.rows[0]
    assert "1 + 1 = 2" in pair["chosen"] and "1 + 1 = 3" in pair["rejected"] and "1 + 1?" in pair["prompt"]


def test_w2s_plan_lists_the_rl_stages():
    from w2s_ray.raycluster.plan import stage_asks

    stages = [a.stage for a in stage_asks(load_config(REPO / "configs/demo-e2h-rl.yaml"), "cpu", 2)]
    assert {"rl orm train", "rl rollouts (policy)", "score reward_model", "rl grpo train"} <= set(stages)
    assert stages.count("score answer_check") == 1  # the gold reward's scorer is the run's own
    assert not any(stage.startswith("rl ") for a in stage_asks(load_config(REPO / "configs/demo-e2h.yaml"), "cpu", 2)
                   for stage in [a.stage])


def _hand_made_run(tmp_path, rewards=("prm", "orm"), configured=None):
    """A manifest as the recipe writes it: the easy-SFT eval, and per reward source two iterations'
    summaries and the last policy's eval. 100 test problems, 40 of them hard (levels 4-5)."""
    from w2s_ray.run.manifest import Manifest, StageResult, run_stage
    from w2s_ray.run.stage_io import write_stage
    from w2s_ray.run.stage_tags import Tag

    ids = [f"t{i:03d}" for i in range(100)]
    level = {pid: 1 + i % 5 for i, pid in enumerate(ids)}
    manifest = Manifest.create(tmp_path, {"name": "e2h", "recipe": "easy_to_hard", "weak": [],
                                          "easy_to_hard": {"rl": {"rewards": list(configured or rewards)}}}, "h")

    def evaluate(key, hard_right, tag):
        right = {pid: (i // 5) % 10 < 10 * (hard_right if level[pid] >= 4 else 0.9) for i, pid in enumerate(ids)}
        rows = [{"problem_id": pid, "correct": v, "has_gold": True, "level": level[pid]} for pid, v in right.items()]
        by_level = {str(lvl): sum(right[p] for p in ids if level[p] == lvl) / 20 for lvl in range(1, 6)}
        acc = {"acc": sum(right.values()) / 100, "n": 100, "acc_by_level": by_level,
               "n_by_level": {str(lvl): 20 for lvl in range(1, 6)}}
        run_stage(manifest, key, lambda: StageResult(outputs={"rows": write_stage(tmp_path / key, rows)},
                                                     metrics={"accuracy": acc}), tag=tag)
        return acc

    evaluate("policy/eval", 0.2, Tag("student_eval", "easy_sft"))
    for reward, hard_right in zip(rewards, (0.6, 0.3)):
        for k in (1, 2):
            test = evaluate(f"rl/{reward}/iter{k}/eval", hard_right if k == 2 else 0.25,
                            Tag("student_eval", f"rl_{reward}") if k == 2 else None)
            figures = {"reward": reward, "iteration": k, "supervision": "process", "mean_reward": 0.1 * k,
                       "mean_length": 30.0, "groups": 8, "groups_without_signal": 1, "train_gold_accuracy": 0.2,
                       "kl": 0.01, "weight_update": {"mode": "new_engine"}, "test": test}
            run_stage(manifest, f"rl/{reward}/iter{k}/summary",
                      lambda f=figures: StageResult(metrics={"rl_iteration": f}),
                      tag=Tag("report", f"rl_{reward}", round=k))
    return manifest


def test_the_report_carries_the_rl_block_and_its_findings(tmp_path):
    from w2s_ray.eval.report import build_report, plot, render_markdown

    _hand_made_run(tmp_path)
    report = build_report(tmp_path)
    rl = report["rl"]
    assert rl["rewards"] == ["prm", "orm"]
    assert [(it["reward"], it["iteration"]) for it in rl["iterations"]] == [("prm", 1), ("prm", 2), ("orm", 1),
                                                                            ("orm", 2)]
    assert rl["iterations"][1]["mean_reward"] == pytest.approx(0.2)
    assert rl["iterations"][1]["test_hard_acc"] == pytest.approx(0.6)
    assert rl["final"]["orm"]["hard_acc"] == pytest.approx(0.3)
    found = {f["id"]: f for f in report["findings"]}
    assert found["rl_prm>easy_sft_hard"]["verdict"] == "holds" and found["rl_prm>easy_sft_hard"]["n_test"] == 40
    assert found["rl_prm>easy_sft_hard"]["diff"] == pytest.approx(0.4)
    assert found["rl_prm>rl_orm_hard"]["diff"] == pytest.approx(0.3)
    assert "rl_gold>=rl_prm_hard" not in found  # gold did not run
    text = render_markdown(report)
    assert "## Easy-to-hard RL" in text and "| prm (process) | 2 | 0.200 | 20.0 % |" in text
    assert "| RL (prm reward) |" in text and "| rl_prm>rl_orm_hard |" in text
    from w2s_ray.recipes.easy_to_hard.report import curves

    assert [label for label, _ in curves(report)] == ["RL prm (last iteration)", "RL orm (last iteration)"]
    assert curves(report)[0][1][4] == pytest.approx(0.6)
    plot(report, tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 0


def test_a_chain_not_yet_evaluated_is_a_finding_not_run(tmp_path):
    from w2s_ray.recipes.easy_to_hard.report import build

    manifest = _hand_made_run(tmp_path, rewards=("prm",), configured=["prm", "gold"])  # gold has not run yet
    found = {f["id"]: f for f in build(manifest, {"hard_levels": [4, 5]})["findings"]}
    assert found["rl_gold>easy_sft_hard"]["verdict"] == "not run"
    assert "rl_gold" in found["rl_gold>easy_sft_hard"]["why"]
    assert found["rl_gold>=rl_prm_hard"]["verdict"] == "not run"
    assert found["rl_prm>easy_sft_hard"]["verdict"] == "holds"


def test_rollouts_without_gold_count_in_no_accuracy():
    from w2s_ray.eval.accuracy import accuracy_by_model

    rows = [{"model": "m", "level": 5, "gold": float("nan")},  # Ray Data's numpy batches turn None into NaN
            {"model": "m", "level": 5, "gold": None}, {"model": "m", "level": 4, "gold": "3", "correct": True}]
    assert accuracy_by_model(rows)["m"]["n"] == 1


def test_new_weights_go_into_the_live_engines_only_when_they_hold_the_last_policy():
    from w2s_ray.recipes.easy_to_hard.rl import weight_update_route

    assert weight_update_route("vllm", "/run/iter1", "/run/iter1", "/run/iter2")["mode"] == "in_place"
    assert weight_update_route("vllm", "/run/iter2", "/run/iter1", "/run/iter2")["mode"] == "in_place"  # resumed
    assert weight_update_route("vllm", None, "/run/iter1", "/run/iter2")["mode"] == "new_engine"
    other = weight_update_route("vllm", "/run/prm", "/run/iter1", "/run/iter2")
    assert other["mode"] == "new_engine" and "/run/prm" in other["why"]
    assert weight_update_route("hf", "/run/iter1", "/run/iter1", "/run/iter2")["mode"] == "new_engine"
