"""Stage II's pairs judged by level after the fact: the report says where its pairs can teach."""
from __future__ import annotations

from w2s_ray.eval.selection_stats import pairs_by_level
from w2s_ray.recipes.w2s_reasoning.report import markdown as _stage2_pairs


def _pair(pid, level, chosen, rejected):
    return {"problem_id": pid, "level": level, "chosen_answer": chosen, "rejected_answer": rejected}


def test_pairs_are_judged_per_level_against_gold():
    gold = {"a": "7", "b": "12", "c": "3", "d": "5", "e": None}
    rows = [_pair("a", 1, "7", "6"),          # right over wrong
            _pair("b", 5, "11", "10"),        # wrong over wrong: teaches a wrong answer
            _pair("c", 5, "3", "4"),          # right over wrong
            _pair("d", 5, " 5", "5"),         # right over right (answers normalise)
            _pair("e", 5, "1", "2")]          # no gold: left out
    by_level = pairs_by_level(rows, gold)
    assert by_level == {
        "1": {"pairs": 1, "chosen_right": 1.0, "rejected_wrong": 1.0, "right_over_wrong": 1},
        "5": {"pairs": 3, "chosen_right": 2 / 3, "rejected_wrong": 2 / 3, "right_over_wrong": 1},
    }
    lines = _stage2_pairs({"stage2": {"selection": {"pairs_by_level": by_level}}})
    assert "L5 3 pairs, chosen right 67%, rejected wrong 67%" in lines[-1]
    assert _stage2_pairs({"stage2": None}) == []
