"""Reranking N samples by reward on hand-made samples, and Zhou et al.'s selection and schedule."""
from __future__ import annotations

import math

import pytest

from w2s_ray.select import take_all
from w2s_ray.select.rerank import accuracy_by_level, pick, rerank, top_by_reward, two_stage_schedule


def sample(i, answer, score, correct, pid="p", level=4):
    return {"problem_id": pid, "model": "s", "sample_index": i, "answer": answer, "prm_min": score,
            "correct": correct, "level": level, "question": "Q?", "text": f"x = {answer}\n#### {answer}",
            "role": "weak"}


# Three votes for the wrong 7, each scored low; two for the right 9, scored high.
HARD = [sample(0, "7", 0.2, False), sample(1, "9", 0.9, True), sample(2, "7", 0.1, False),
        sample(3, "9", 0.8, True), sample(4, "7", 0.3, False)]


def test_majority_best_of_n_and_weighted_disagree_as_designed():
    assert pick(HARD, "majority") == "7"
    assert pick(HARD, "best_of_n") == "9"
    assert pick(HARD, "weighted") == "9"  # 1.7 against 0.6
    # One confident wrong sample: best-of-N follows it, the weighted vote does not.
    loud = HARD + [sample(5, "5", 0.95, False)]
    assert (pick(loud, "best_of_n"), pick(loud, "weighted")) == ("5", "9")


def test_ties_unscored_and_unanswered_samples():
    tied = [sample(0, "3", 0.5, True), sample(1, "4", 0.5, False)]
    assert pick(tied, "best_of_n") == "3" and pick(tied, "weighted") == "3"  # the earliest sample
    nan = [sample(0, "3", math.nan, False), sample(1, "4", 0.1, True)]
    assert pick(nan, "best_of_n") == "4" and pick(nan, "weighted") == "4"
    assert pick([sample(0, "", 0.9, False), sample(1, "4", 0.1, True)], "best_of_n") == "4"
    assert pick([sample(0, "", 0.9, False)], "weighted") == ""
    with pytest.raises(ValueError, match="method"):
        pick(HARD, "median")


def test_rerank_and_accuracy_by_level():
    easy = [sample(0, "2", 0.9, True, pid="e", level=1), sample(1, "3", 0.1, False, pid="e", level=1)]
    rows = HARD + easy
    report = {m: accuracy_by_level(rerank(rows, m)) for m in ("majority", "best_of_n", "weighted")}
    assert report["majority"] == {"acc": 0.5, "acc_by_level": {"1": 1.0, "4": 0.0}, "n": 2}
    assert report["weighted"]["acc_by_level"] == report["best_of_n"]["acc_by_level"] == {"1": 1.0, "4": 1.0}
    with pytest.raises(ValueError, match="score_column"):
        rerank(rows, "best_of_n", "logprob")


def test_top_by_reward_by_fraction_and_threshold():
    rows = [{**sample(i, str(i), score, True, pid=f"p{i}"), "reward": score, "model": "weak-b"}
            for i, score in enumerate([0.1, 0.9, 0.5, 0.7, math.nan])]
    top = top_by_reward(rows, top_fraction=0.5)  # of 4 scored, ceil(2.0) = 2
    assert [r["problem_id"] for r in top.rows] == ["p1", "p3"] and top.dropped == {
        "empty_text_or_unscored": 1, "below_cut": 2}
    assert [r["problem_id"] for r in top_by_reward(rows, threshold=0.5).rows] == ["p1", "p2", "p3"]
    with pytest.raises(ValueError, match="exactly one"):
        top_by_reward(rows)


def test_two_stage_schedule_data_counts():
    rows = [{**sample(i, str(i), 0.1 * i, True, pid=f"p{i}"), "reward": 0.1 * i, "model": "weak-b"}
            for i in range(10)]
    schedule = two_stage_schedule(take_all(rows), top_by_reward(rows, top_fraction=0.3))
    assert [(s["stage"], len(s["rows"]), s["epochs"], s["from"]) for s in schedule] == [
        ("all_weak", 10, 2.0, "base"), ("selected", 3, 1.0, "all_weak")]
    assert {r["problem_id"] for r in schedule[1]["rows"]} == {"p7", "p8", "p9"}
