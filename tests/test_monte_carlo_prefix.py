"""OmegaPRM's rollout prefixes (recipes/easy_to_hard/monte_carlo.py) keep the solution's own step
format: a blank-line (MATH-style) solution's first m steps re-joined by single newlines read back as
one paragraph, one step, so the rollouts would continue a different prefix than the search probes."""
from __future__ import annotations

import pytest

from w2s_ray.recipes.easy_to_hard.monte_carlo import rollout_problems
from w2s_ray.text.steps import STEP_SEPARATORS, join_steps, split_steps

BLANK = "Let a = 1.\nSo a is one.\n\nThen b = a + 1 = 2.\n\nSo c = b + 1 = 3.\n\n#### 3"
LINE = "a = 1\nb = a + 1 = 2\nc = b + 1 = 3 #### 3"


def _row(text):
    return {"problem_id": "p", "model": "m", "sample_index": 0, "question": "q?", "gold": "3", "level": 5,
            "text": text}


@pytest.mark.parametrize("text, step_sep", [(BLANK, "blank_line"), (LINE, "line")])
def test_a_probed_prefix_splits_back_into_the_steps_it_probes(text, step_sep):
    steps = split_steps(text, step_sep)
    assert len(steps) == 3
    for m in (1, 2, 3):
        (problem,) = rollout_problems({"s": m}, {"s": _row(text)}, {"s": steps}, step_sep)
        assert problem["id"] == f"s@{m}" and problem["gold"] == "3" and problem["level"] == 5
        assert problem["prefix"].startswith(" ") and problem["prefix"].endswith(STEP_SEPARATORS[step_sep])
        assert split_steps(problem["prefix"], step_sep) == steps[:m]


def test_a_blank_line_prefix_is_joined_by_blank_lines():
    steps = split_steps(BLANK, "blank_line")
    (problem,) = rollout_problems({"s": 2}, {"s": _row(BLANK)}, {"s": steps}, "blank_line")
    # not " Let a = 1.\nSo a is one.\nThen b = a + 1 = 2.\n": that would be a single paragraph
    assert problem["prefix"] == " Let a = 1.\nSo a is one.\n\nThen b = a + 1 = 2.\n\n"


def test_join_steps_is_split_steps_inverse_in_both_formats():
    for sep in STEP_SEPARATORS:
        steps = ["x = 2", "y = x * 3 = 6"]
        assert split_steps(join_steps(steps, sep) + "#### 6", sep) == steps
    assert join_steps([], "blank_line") == ""
    with pytest.raises(KeyError):
        join_steps(["a"], "paragraph")
