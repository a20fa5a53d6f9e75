"""GRPO advantages on hand-made rewards: outcome (one reward per sample) and process (per step)
supervision equal DeepSeekMath's formulas computed by hand here, and TRL's normalisation."""
from __future__ import annotations

import math

import pytest
import torch
from trl.trainer.utils import nanstd

from w2s_ray.select.advantages import outcome_advantages, process_advantages, token_ends_from_char_ends

EPS = 1e-4


def test_outcome_advantages_are_the_group_normalised_rewards_by_hand():
    # rewards 1, 0, 0, 1: mean 0.5, sample std sqrt((4 * 0.25) / 3) = sqrt(1/3)
    std = math.sqrt(1 / 3)
    expected = [0.5 / (std + EPS), -0.5 / (std + EPS), -0.5 / (std + EPS), 0.5 / (std + EPS)]
    assert outcome_advantages([1.0, 0.0, 0.0, 1.0]) == pytest.approx(expected, abs=1e-12)


def test_outcome_advantages_match_trls_group_normalisation():
    rewards = [0.3, 0.9, 0.1, 0.5, 0.5]
    r = torch.tensor([rewards], dtype=torch.float64)
    # grpo_trainer.py 2764-2787: (r - nanmean) / (nanstd + 1e-4), per group
    trl = (r - torch.nanmean(r, dim=1, keepdim=True)) / (nanstd(r, dim=1).unsqueeze(1) + 1e-4)
    assert outcome_advantages(rewards) == pytest.approx(trl[0].tolist(), abs=1e-12)


def test_a_group_with_equal_rewards_has_zero_advantages_and_a_group_of_one_is_refused():
    assert outcome_advantages([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="at least 2"):
        outcome_advantages([1.0])
    with pytest.raises(ValueError, match="reward 1 is nan"):
        outcome_advantages([1.0, float("nan")])


def test_process_advantages_sum_the_normalised_rewards_of_the_steps_at_or_after_each_token():
    # Two samples. Sample 0: steps ending at tokens 1 and 4 (5 tokens, rewards 1.0, 0.0);
    # sample 1: steps ending at tokens 0, 2, 3 (5 tokens: the last is after every step), rewards 1, 1, 0.
    step_rewards = [[1.0, 0.0], [1.0, 1.0, 0.0]]
    ends = [[1, 4], [0, 2, 3]]
    # All five step rewards of the group: 1, 0, 1, 1, 0 -> mean 0.6, sample var (3*0.16 + 2*0.36)/4 = 0.3
    std = math.sqrt(0.3)
    hi, lo = (1 - 0.6) / (std + EPS), (0 - 0.6) / (std + EPS)
    expected = [
        [hi + lo, hi + lo, lo, lo, lo],          # tokens 0-1: steps 0 and 1; tokens 2-4: step 1
        [hi + hi + lo, hi + lo, hi + lo, lo, 0.0],  # token 0: all; 1-2: steps 1, 2; 3: step 2; 4: none
    ]
    got = process_advantages(step_rewards, ends, [5, 5])
    assert [len(a) for a in got] == [5, 5]
    for sample, want in zip(got, expected):
        assert sample == pytest.approx(want, abs=1e-12)


def test_process_advantages_with_one_step_per_sample_are_the_outcome_advantages_on_every_token():
    rewards = [0.2, 0.7, 0.4]
    got = process_advantages([[r] for r in rewards], [[2], [1], [3]], [3, 2, 4])
    outcome = outcome_advantages(rewards)
    assert got == [pytest.approx([outcome[0]] * 3), pytest.approx([outcome[1]] * 2),
                   pytest.approx([outcome[2]] * 4)]


@pytest.mark.parametrize("ends, n_tokens, match", [
    ([[1, 1]], [4], "step 1: end 1"),          # not increasing
    ([[1, 4]], [4], "step 1: end 4"),          # past the completion
    ([[1]], [4], "2 step rewards but 1 step ends"),
])
def test_bad_step_ends_are_refused_naming_sample_and_step(ends, n_tokens, match):
    with pytest.raises(ValueError, match=match):
        process_advantages([[1.0, 0.0]] + [[0.5]], ends + [[0]], n_tokens + [1])


def test_step_char_ends_map_to_the_last_token_starting_before_them():
    offsets = [(0, 3), (3, 5), (5, 9), (9, 10), (10, 14)]
    assert token_ends_from_char_ends(offsets, [5, 10, 14]) == [1, 3, 4]
    with pytest.raises(ValueError, match="step 0 ends at character 0"):
        token_ends_from_char_ends(offsets, [0])
