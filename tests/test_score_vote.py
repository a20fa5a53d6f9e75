"""majority_vote: top answer, confidence, ties, empty answers."""
import numpy as np
import pytest

from w2s_ray.score import get_scorer
from w2s_ray.score.majority_vote import vote


def _vote_batch(answers, sample_index=None, problem_ids=None):
    n = len(answers)
    return {
        "problem_id": np.array(problem_ids or ["p"] * n, dtype=object),
        "model": np.array(["m"] * n, dtype=object),
        "sample_index": np.array(sample_index if sample_index is not None else list(range(n))),
        "answer": np.array(answers, dtype=object),
    }


def _run(batch):
    out = get_scorer("majority_vote")()(batch)
    assert set(out) == {"vote_answer", "vote_confidence", "vote_size", "in_majority"}
    return {k: v.tolist() for k, v in out.items()}


def test_majority_and_confidence_count_empty_samples():
    out = _run(_vote_batch(["15", "15", "16", "", "15.0", "$15", "", "", "16", "17"]))
    assert out["vote_answer"] == ["15"] * 10          # "15.0" and "$15" normalise to "15"
    assert out["vote_confidence"] == [0.4] * 10      # 4 votes of 10 samples, empties included
    assert out["vote_size"] == [10] * 10
    assert out["in_majority"] == [True, True, False, False, True, True, False, False, False, False]


def test_all_empty_group_has_no_answer_and_nobody_in_majority():
    out = _run(_vote_batch(["", "", None]))
    assert out["vote_answer"] == ["", "", ""]
    assert out["vote_confidence"] == [0.0] * 3
    assert out["in_majority"] == [False] * 3


def test_tie_goes_to_the_answer_seen_first_by_sample_index_whatever_the_row_order():
    # "9" first appears at sample 0, "10" at sample 1: both have 2 votes.
    out = _run(_vote_batch(["10", "9", "10", "9"], sample_index=[1, 0, 3, 2]))
    assert out["vote_answer"] == ["9"] * 4
    assert out["vote_confidence"] == [0.5] * 4
    shuffled = _run(_vote_batch(["9", "10", "9", "10"], sample_index=[2, 3, 0, 1]))
    assert shuffled["vote_answer"] == ["9"] * 4


def test_vote_function_tie_break_falls_back_to_the_smaller_string():
    assert vote(["b", "a"], order=[0, 0]) == ("a", 1)
    assert vote(["b", "a", "b"]) == ("b", 2)
    assert vote([]) == ("", 0)


def test_a_batch_with_several_whole_groups_votes_per_group():
    batch = _vote_batch(["1", "1", "2", "2", "2", ""], problem_ids=["a", "a", "a", "b", "b", "b"])
    out = _run(batch)
    assert out["vote_answer"] == ["1", "1", "1", "2", "2", "2"]
    assert out["vote_confidence"] == pytest.approx([2 / 3] * 3 + [2 / 3] * 3)
    assert out["vote_size"] == [3] * 6
    assert out["in_majority"] == [True, True, False, True, True, False]


def test_empty_batch():
    out = _run(_vote_batch([]))
    assert all(v == [] for v in out.values())
