"""The pure parts of the RL benches (bench/rl_weight_update.py, bench/grpo_vs_trl.py): the rollouts
the GRPO comparison trains on, and the perturbed policy the weight-update bench loads into an engine.
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
