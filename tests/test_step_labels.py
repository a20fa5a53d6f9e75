"""Step labels without humans: from gold, from the step checker, and OmegaPRM's binary search."""
from __future__ import annotations

import math

import pytest

from w2s_ray.recipes.easy_to_hard.step_labels import first_error, step_labels_from_checker, step_labels_from_gold
from w2s_ray.score import score_rows

RIGHT = "16 + 11 = 27\n27 + 3 = 30\n#### 30"
WRONG_STEP = "16 + 11 = 28\n28 + 3 = 31\n#### 31"  # the first step is wrong
PROSE_WRONG = "I think so\n#### 31"  # wrong, and nothing the checker can see


def scored(texts, gold="30"):
    rows = [{"problem_id": f"p{i}", "model": "s", "sample_index": i, "question": "Ruby has 16.", "text": t,
             "answer": t.rsplit("#### ", 1)[-1], "gold": gold, "level": 2} for i, t in enumerate(texts)]
    return score_rows(rows, ["answer_check", "step_check"])


def test_labels_from_gold_stop_at_the_first_error_and_count_the_rest():
    selection = step_labels_from_gold(scored([RIGHT, WRONG_STEP, PROSE_WRONG, ""]))
    assert [(r["steps"], r["labels"]) for r in selection.rows] == [
        (["16 + 11 = 27", "27 + 3 = 30"], [1, 1]), (["16 + 11 = 28"], [0])]
    assert selection.dropped == {"wrong_answer_unlocated": 1, "no_steps": 1}
    assert selection.rows[0]["prompt"].startswith("Question: Ruby has 16.") and selection.rows[0]["source"] == "gold"


def test_labels_from_the_checker_need_every_step_checked():
    selection = step_labels_from_checker(scored([RIGHT, WRONG_STEP, PROSE_WRONG], gold=None))
    assert [r["labels"] for r in selection.rows] == [[1, 1], [0]]
    assert selection.dropped == {"unchecked_steps": 1}


@pytest.mark.parametrize("n_steps", [1, 2, 5, 8, 13])
def test_binary_search_finds_a_planted_first_error_with_the_fewest_rollouts(n_steps):
    for planted in range(n_steps):
        calls = []

        def value(m):  # prefixes through the planted step still succeed sometimes, later ones never
            calls.append(m)
            return 0.5 if m <= planted else 0.0

        assert first_error(n_steps, value) == planted
        # ceil(log2 n) values of k rollouts each; a scan from the start would need up to n - 1.
        assert len(calls) <= math.ceil(math.log2(n_steps)) and len(set(calls)) == len(calls)
