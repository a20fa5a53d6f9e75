"""GRPO advantages (DeepSeekMath, Shao et al. 2024, section 4.1): pure functions from the rewards of
one group (the G samples of one question) to advantages.

outcome_advantages   one reward per sample (section 4.1.2): A_i = (r_i - mean(r)) / (std(r) + eps),
                     the same for every token of sample i.
process_advantages   one reward per reasoning step (section 4.1.3): every step reward of the group
                     normalised over ALL the group's step rewards, r~ = (r - mean(R)) / (std(R) + eps),
                     and a token's advantage is the sum of the normalised rewards of the steps that end
                     at or after it: A_{i,t} = sum over steps j of sample i with end(j) >= t of r~_i^j.

std is the sample standard deviation (Bessel's correction, n - 1) and eps = 1e-4, as TRL computes the
group-relative advantage: trl/trainer/grpo_trainer.py (TRL 1.16.0) lines 2770 and 2786-2787,
`nanstd(rewards.view(-1, num_generations), dim=1)` then `advantages / (std_rewards + 1e-4)`, with
nanstd in trl/trainer/utils.py lines 1037-1043 ("Bessel's correction"). The paper writes std without
saying which; a group whose rewards are all equal gets advantages of 0, as in TRL.

Step ends are token indices into the sample's completion tokens (0-based, the step's last token,
inclusive), as the trainer tokenizes the completion; `token_ends_from_char_ends` maps a step's end
character to its last token from a tokenizer's offset mapping. Tokens after the last step end get 0:
no step ends at or after them.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# TRL's epsilon in the denominator (grpo_trainer.py line 2787).
STD_EPS = 1e-4


def _normalised(values: Sequence[float], what: str) -> list[float]:
    if len(values) < 2:
        # A group of one has no baseline, and TRL's nanstd of one value is NaN.
        raise ValueError(f"{what}: a group needs at least 2 rewards to normalise, got {len(values)}")
    for k, value in enumerate(values):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{what}: reward {k} is {value!r}, not a finite number")
    mean = statistics.fmean(values)
    std = statistics.stdev(values)  # n - 1, as TRL's nanstd
    return [(v - mean) / (std + STD_EPS) for v in values]


def outcome_advantages(rewards: Sequence[float]) -> list[float]:
    """One group's sample rewards -> one advantage per sample (DeepSeekMath 4.1.2)."""
    return _normalised(list(rewards), "outcome rewards")


def _check_steps(i: int, rewards: Sequence[float], ends: Sequence[int], n_tokens: int) -> None:
    if len(rewards) != len(ends):
        raise ValueError(f"sample {i}: {len(rewards)} step rewards but {len(ends)} step ends")
    if not isinstance(n_tokens, int) or n_tokens < 1:
        raise ValueError(f"sample {i}: n_tokens must be a positive integer, got {n_tokens!r}")
    previous = -1
    for j, end in enumerate(ends):
        if not isinstance(end, int) or not previous < end < n_tokens:
            raise ValueError(f"sample {i} step {j}: end {end!r} must be an integer after the previous step's end "
                             f"({previous}) and below the completion's {n_tokens} tokens")
        previous = end


def process_advantages(step_rewards: Sequence[Sequence[float]], step_ends: Sequence[Sequence[int]],
                       n_tokens: Sequence[int]) -> list[list[float]]:
    """One group (G samples): each sample's step rewards, each step's last token index, and the
    sample's completion length in tokens -> each sample's per-token advantages (DeepSeekMath 4.1.3)."""
    if not len(step_rewards) == len(step_ends) == len(n_tokens):
        raise ValueError(f"process advantages: {len(step_rewards)} samples of step rewards, {len(step_ends)} of "
                         f"step ends, {len(n_tokens)} lengths: one of each per sample")
    for i, (rewards, ends, n) in enumerate(zip(step_rewards, step_ends, n_tokens)):
        _check_steps(i, rewards, ends, n)
    flat = _normalised([r for rewards in step_rewards for r in rewards], "process rewards (all steps of the group)")
    advantages, k = [], 0
    for ends, n in zip(step_ends, n_tokens):
        normalised, k = flat[k:k + len(ends)], k + len(ends)
        tokens, start = [0.0] * n, 0
        for j, end in enumerate(ends):
            # Tokens start..end belong to step j: it and every later step end at or after them.
            tokens[start:end + 1] = [math.fsum(normalised[j:])] * (end + 1 - start)
            start = end + 1
        advantages.append(tokens)
    return advantages


def token_ends_from_char_ends(offsets: Sequence[tuple[int, int]], char_ends: Sequence[int]) -> list[int]:
    """A tokenizer's offset mapping of the completion ([(start, end)) per token) and each step's end
    character (exclusive) -> each step's last token: the last token starting before the step's end."""
    ends = []
    for j, char_end in enumerate(char_ends):
        last = max((t for t, (start, _) in enumerate(offsets) if start < char_end), default=None)
        if last is None:
            raise ValueError(f"step {j} ends at character {char_end}, before the completion's first token")
        ends.append(last)
    return ends
