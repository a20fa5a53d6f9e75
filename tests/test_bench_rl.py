"""The pure parts of the RL benches (bench/rl_weight_update.py, bench/grpo_vs_trl.py,
bench/rl_vs_trl_grpo.py): the rollouts the GRPO comparison trains on, the perturbed policy the
weight-update bench loads into an engine, and the RL-vs-TRL bench's arguments and report arithmetic.
The benches themselves start engines and train: they are run by hand, not here."""
from __future__ import annotations

import math

import pytest

from bench.grpo_vs_trl import rollout_rows
from bench.rl_weight_update import perturbed_copy
from w2s_ray.generate.weight_update import check_same_model_shape
from w2s_ray.train.grpo import validate_grpo_rows


def test_rollouts_are_groups_of_right_and_wrong_samples_with_zero_mean_advantages():
    rows = rollout_rows(n_problems=5, group=4)
    assert len(rows) == 20 and validate_grpo_rows(rows)
    for start in range(0, len(rows), 4):
        group = rows[start:start + 4]
        assert len({r["prompt"] for r in group}) == 1
        assert math.isclose(sum(r["advantage"] for r in group), 0.0, abs_tol=1e-9)
        right, wrong = group[0], group[-1]
        assert right["advantage"] > 0 > wrong["advantage"]
        assert right["completion"].rsplit("#### ", 1)[1] != wrong["completion"].rsplit("#### ", 1)[1]
    # groups of 2 right + 2 wrong and of 1 right + 3 wrong: two advantage scales
    assert len({round(r["advantage"], 6) for r in rows}) == 4
    with pytest.raises(ValueError, match="--group must be at least 2"):
        rollout_rows(n_problems=1, group=1)


def test_the_perturbed_policy_has_the_engines_shape_and_other_weights(tiny_models, tmp_path):
    from safetensors.torch import load_file

    model = tiny_models[1]
    copy = perturbed_copy(model, tmp_path / "perturbed", scale=0.02)
    check_same_model_shape(model, copy)  # loadable in place: same shape and tokenizer
    before, after = load_file(f"{model}/model.safetensors"), load_file(f"{copy}/model.safetensors")
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        if tensor.is_floating_point() and tensor.numel() > 1:
            change = (after[name] - tensor).std() / tensor.std()
            assert 0.01 < change < 0.04, (name, float(change))


# bench/rl_vs_trl_grpo.py: our RL loop against TRL's GRPOTrainer; its arithmetic on hand-made timings.

def _iteration(generate, score, advantages, train, update=None, mode="in_place"):
    return {"seconds": {"generate": generate, "score": score, "advantages": advantages, "train": train,
                        "weight_update": update}, "weight_update": {"mode": mode}, "mean_reward": 0.5}


def test_rl_vs_trl_arguments_need_whole_batches():
    from bench.rl_vs_trl_grpo import parse_args, steps_per_iteration

    args = parse_args(["--problems", "6", "--group", "4", "--batch", "8", "--iterations", "3"])
    assert steps_per_iteration(args) == 3 and args.keep_engines and args.trl_generation == "transformers"
    assert not parse_args(["--no-keep-engines"]).keep_engines
    with pytest.raises(SystemExit):  # 5 x 4 = 20 completions are not whole batches of 8
        parse_args(["--problems", "5", "--group", "4", "--batch", "8"])
    with pytest.raises(SystemExit):
        parse_args(["--group", "1"])


def test_rl_vs_trl_report_ratio_split_and_weight_update_share():
    from bench.rl_vs_trl_grpo import iteration_split, parse_args, report_lines

    args = parse_args(["--iterations", "2", "--problems", "4", "--group", "4", "--batch", "8"])
    iterations = [_iteration(30.0, 5.0, 1.0, 60.0, 2.0), _iteration(10.0, 5.0, 1.0, 84.0, 2.0)]
    split = iteration_split(iterations)
    assert split["total"] == 200.0 and split["seconds"]["train"] == 144.0
    assert math.isclose(split["share"]["weight_update"], 0.02) and math.isclose(sum(split["share"].values()), 1.0)
    ours = {"completions": 32, "seconds": 200.0, "iterations": iterations, "engine_start": 20.0,
            "train_steps": 4, "train_loop_seconds": 24.0}
    trl = {"completions": 32, "seconds": 50.0, "generation": "transformers", "steps": 4}
    lines = report_lines(args, ours, trl, {"ours": {"hard": 0.25, "all": 0.5}, "TRL": {"hard": None, "all": 0.4}})
    text = "\n".join(lines)
    assert "= 0.16 samples/s" in text and "= 0.64 samples/s" in text  # 32 / 200 and 32 / 50
    assert "samples/s ours / TRL = 0.25x" in text
    assert "train 144.0 s (72.0 %)" in text and "120.0 s in the stages' start-up" in text
    # 2 loads of 2 s: 2 % (within 10 %); an engine start of 20 s is 10x a load and 20 / (100 - 2 + 20) of an iteration
    assert "mean 2.00 s, 2.0 % of our iteration time (within" in text and "10x a load, 16.9 %" in text
    assert "ours: hard levels 25.0 %, all levels 50.0 %" in text and "TRL: hard levels n/a, all levels 40.0 %" in text


def test_rl_vs_trl_new_engines_have_no_in_place_share():
    from bench.rl_vs_trl_grpo import iteration_split, weight_update_line

    iterations = [_iteration(50.0, 5.0, 1.0, 60.0, None, mode="new_engine")] * 2
    line = weight_update_line(iteration_split(iterations), {"iterations": iterations, "engine_start": 40.0})
    assert line.startswith("weight update: new_engine, no in-place load")


def test_rl_vs_trl_accuracy_by_level_part_and_gold_reward():
    from bench.rl_vs_trl_grpo import accuracy_by_part, gold_reward, samples_per_second

    rows = [{"level": 1, "correct": True}, {"level": 4, "correct": True}, {"level": 5, "correct": False},
            {"level": 5, "correct": False}]
    assert accuracy_by_part(rows) == {"hard": 1 / 3, "all": 0.5, "n_hard": 3, "n": 4}
    assert accuracy_by_part([{"level": 2, "correct": True}])["hard"] is None
    assert gold_reward(["2 + 3 = 5\n#### 5", "#### 6", ""], ["5", "5", "5"]) == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="seconds must be positive"):
        samples_per_second(8, 0.0)
