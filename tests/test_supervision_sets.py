"""Supervision sets of the supervision_mix recipe: subtasks cut from hand-made solutions (world and
text), exact outcome error after injection, and step-wise error measured on planted errors."""
from __future__ import annotations

import pytest

from w2s_ray.data.schema import Problem
from w2s_ray.data.world import Step, generate_world
from w2s_ray.data.world_chain import read_chain, solution_text
from w2s_ray.recipes.supervision_mix.error_control import ErrorTargetUnreachable, build_mix, inject_errors, measure
from w2s_ray.recipes.supervision_mix.subtasks import hard_set, rephrased_set, subtask_set, text_subtask, world_subtask

# A hand-made world problem: 12 -> +7 -> 19 -> -4 -> 15 -> *2 -> 30 -> /3 -> 10
WORLD_Q = ("Ava has 12 stones. She finds 7 more stones. She gives away 4 stones. "
           "She ends up with 2 times as many stones. She splits the stones into 3 equal groups and keeps one group. "
           "How many stones does Ava have now?")
WORLD_SOL = "12 + 7 = 19\n19 - 4 = 15\n15 * 2 = 30\n30 / 3 = 10\n#### 10"


def _item(pid="world:a", question=WORLD_Q, solution=WORLD_SOL, gold="10", level=4, gold_solution=None):
    return {"problem_id": pid, "source_model": "gold", "sample_index": 0, "kind": "hard", "question": question,
            "level": level, "solution": solution, "gold": gold, "gold_solution": gold_solution or solution}


def test_world_subtask_is_a_middle_span_posed_from_its_own_start_with_the_span_answer():
    sub = world_subtask(_item(), span=2, seed=0)
    # 4 steps, span 2, not the first nor the last step: steps 1-2 (19 - 4 = 15, 15 * 2 = 30)
    assert sub["question"] == ("Ava has 19 stones. She gives away 4 stones. She ends up with 2 times as many "
                               "stones. How many stones does Ava have now?")
    assert sub["solution"] == "19 - 4 = 15\n15 * 2 = 30\n#### 30" and sub["gold"] == "30" and sub["level"] == 2
    chain = read_chain(sub["question"], sub["solution"])  # a world problem again, its answer the span's
    assert chain.start == 19 and chain.steps[-1].result == 30


def test_world_subtasks_of_generated_problems_read_back_consistent_and_short_ones_are_counted():
    problems = generate_world(60, seed=3)
    hard = hard_set(problems, [3, 4, 5], 30)
    subs = subtask_set(hard.rows, span=2, seed=0, world=True)
    assert subs.kept + subs.dropped.get("too_few_steps", 0) == 30
    assert subs.dropped.get("too_few_steps") == sum(r["level"] == 3 for r in hard.rows)  # 3 < 2 + 2 steps
    for row in subs.rows:
        chain = read_chain(row["question"], row["solution"])
        assert len(chain.steps) == 2 and str(chain.steps[-1].result) == row["gold"]
    for row in rephrased_set(hard.rows, seed=0).rows:
        original = next(h for h in hard.rows if row["problem_id"] == h["problem_id"] + "/rephrased")
        assert row["question"] != original["question"] and row["solution"] == original["solution"]
        assert read_chain(row["question"], row["solution"]).steps == read_chain(original["question"], original["solution"]).steps


def test_text_subtask_gives_the_known_steps_and_takes_the_answer_from_the_span_last_equation():
    solution = ("Tom buys 3 packs of 4 = <<3*4=12>>12 pens.\nHe gives away 12 - 5 = <<12-5=7>>7 pens.\n"
                "Then he doubles them: 7 * 2 = <<7*2=14>>14.\nHe sells 14 - 6 = 8 pens.\n#### 8")
    sub = text_subtask(_item("gsm:1", "Tom ...?", solution, "8"), span=2, seed=0)
    steps, i = solution.split("\n")[:-1], 1  # 4 steps, 2 of them, neither the first nor the last
    assert sub["problem_id"] == "gsm:1/steps1-3" and sub["solution"].split("\n")[:-1] == steps[1:3]
    assert sub["gold"] == "14"  # the right side of the span's last equation, not the problem's answer
    assert sub["solution"].endswith(f"#### {sub['gold']}") and all(s in sub["question"] for s in steps[:i])


def test_a_problem_without_a_level_is_as_hard_as_its_number_of_steps():
    gsm = [Problem(f"gsm:{k}", "Q?", "9", "\n".join(["1 + 1 = 2"] * k) + "\n#### 9", None, "gsm8k") for k in (2, 4, 7)]
    assert [r["level"] for r in hard_set(gsm, [4, 5], 2).rows] == [4, 5]
    with pytest.raises(ValueError, match="n_hard is 3, but the weak half has only 2"):
        hard_set(gsm, [4, 5], 3)


def test_math_text_is_split_into_paragraph_steps_as_the_step_checker_splits_it():
    solution = ("We have $2 + 3 = 5$.\nSo far so good.\n\nThen $5 \\cdot 4 = 20$ in all.\n\n"
                "Halve it: 20 / 2 = 10\n\nFinally 10 + 1 = 11.\n#### 11")
    first = text_subtask(_item("math:1", "Q?", solution, "11"), span=1, seed=0, step_sep="blank_line")
    second = text_subtask(_item("math:1", "Q?", solution, "11"), span=1, seed=1, step_sep="blank_line")
    assert (first["problem_id"], first["gold"]) == ("math:1/steps1-2", "20")  # from "$5 \\cdot 4 = 20$"
    assert (second["problem_id"], second["gold"]) == ("math:1/steps2-3", "10")
    # the known steps are whole paragraphs, still apart
    assert "We have $2 + 3 = 5$.\nSo far so good.\n\nThen $5" in second["question"]


def test_text_spans_that_cannot_be_posed_are_counted_by_reason():
    rows = [_item("t:short", "Q?", "2 + 2 = 4\n#### 4", "4"),
            _item("t:prose", "Q?", "First.\nThen some prose.\nMore prose.\nFinal step.\n#### 5", "5"),
            _item("t:wrong", "Q?", "1 + 1 = 2\n2 + 2 = 5\n5 + 1 = 7\n7 + 1 = 8\n#### 8", "8")]
    subs = subtask_set(rows, span=1, seed=1, world=False)
    assert subs.kept + sum(subs.dropped.values()) == 3
    assert subs.dropped["too_few_steps"] == 1 and subs.dropped["no_equation_in_last_step"] == 1
    assert all(r["problem_id"] == "t:wrong/steps" + r["problem_id"].split("steps")[1] for r in subs.rows)


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 0.9, 0.95])
@pytest.mark.parametrize("mode", ["final", "early"])
def test_injection_reaches_the_exact_outcome_error(rate, mode):
    hard = hard_set(generate_world(200, seed=1), [4, 5], 40).rows
    rows, info = inject_errors(hard, rate, mode, seed=0)
    measured = measure(rows, world=True)
    assert measured["outcome_error"] == round(rate * 40) / 40 == info["n_corrupted"] / 40
    assert sum(r["corrupted"] for r in rows) == info["n_corrupted"]


def test_final_and_early_corrupt_the_same_problems_and_differ_in_step_error_only():
    hard = hard_set(generate_world(200, seed=1), [4, 5], 40).rows
    final, _ = inject_errors(hard, 0.5, "final", seed=0)
    early, _ = inject_errors(hard, 0.5, "early", seed=0)
    assert [r["corrupted"] for r in final] == [r["corrupted"] for r in early]
    m_final, m_early = measure(final, world=True), measure(early, world=True)
    assert m_final["outcome_error"] == m_early["outcome_error"] == 0.5
    n_steps = sum(r["level"] for r in hard)
    assert m_final["n_wrong_steps"] == 20  # one wrong step per corrupted solution
    assert m_early["n_wrong_steps"] == sum(r["level"] for r in early if r["corrupted"])  # all of them
    assert m_early["step_error"] > 3 * m_final["step_error"] and m_final["n_steps"] == n_steps
    # Arithmetic alone sees one wrong step either way: a propagated step computes right.
    assert m_early["checker_step_error"] == m_final["checker_step_error"] == 20 / n_steps


def test_step_error_measured_on_planted_errors():
    gold = [Step(12, "+", 7, 19), Step(19, "-", 4, 15), Step(15, "*", 2, 30), Step(30, "/", 3, 10)]
    planted = {  # solution -> (wrong outcome, wrong steps against gold, wrong steps by arithmetic)
        solution_text(gold): (0, 0, 0),
        solution_text(gold[:3] + [Step(30, "/", 3, 11)]): (1, 1, 1),  # wrong last step
        solution_text([Step(12, "+", 7, 20), Step(20, "-", 4, 16), Step(16, "*", 2, 32), Step(32, "/", 2, 16)]): (1, 4, 1),
        solution_text(gold, answer=9): (1, 0, 0),  # right steps, wrong final line
        "12 + 7 = 19\n19 - 4 = 15\n#### 15": (1, 2, 0),  # two steps missing
    }
    rows = [_item(f"p{i}", solution=s, gold_solution=WORLD_SOL) for i, s in enumerate(planted)]
    for row, (outcome, wrong, checker) in zip(rows, planted.values()):
        m = measure([row], world=True)
        assert (m["n_wrong_outcome"], m["n_wrong_steps"]) == (outcome, wrong), row["solution"]
        assert round(m["checker_step_error"] * len(row["solution"].split("\n")[:-1])) == checker
    total = measure(rows, world=True)
    assert total["outcome_error"] == 4 / 5 and total["step_error"] == 7 / 20
    assert measure(rows, world=False)["step_error"] == 2 / 18  # text: the step checker's count


def test_a_target_that_cannot_be_reached_is_refused():
    one_step = [_item(f"p{i}", "Ava has 2 stones. She finds 1 more stones. How many stones does Ava have now?",
                      "2 + 1 = 3\n#### 3", "3", 1) for i in range(4)]
    assert measure(inject_errors(one_step, 0.5, "early", 0)[0], True)["outcome_error"] == 0.5
    # 9 * 3 = 27, then three divisions by 3: a wrong first result must be a multiple of 27 for the error
    # to propagate, and no other one lies in 1..40. Early cannot corrupt it, so neither mode does.
    chain = "9 * 3 = 27\n27 / 3 = 9\n9 / 3 = 3\n3 / 3 = 1\n#### 1"
    with pytest.raises(ErrorTargetUnreachable, match="needs 1 wrong ones; only 0"):
        inject_errors([_item(solution=chain, gold="1", level=4)], 1.0, "final", 0)


def test_a_mix_is_measured_per_part_and_as_a_whole():
    class Part:
        def __init__(self, kind, outcome_error=0.0, error_step="final"):
            self.kind, self.outcome_error, self.error_step = kind, outcome_error, error_step

    hard = hard_set(generate_world(200, seed=1), [4, 5], 20).rows
    parts = {"hard": hard, "subtask": subtask_set(hard, 2, 0, True).rows}
    mix = build_mix(parts, [Part("hard", 0.5), Part("subtask")], seed=0, world=True)
    m = mix.stats()["supervision"]
    assert m["n"] == 40 and m["outcome_error"] == 0.25 and m["parts"]["hard"]["outcome_error"] == 0.5
    assert m["parts"]["subtask"]["outcome_error"] == 0.0 and len(mix.rows) == 40
    assert all(r["prompt"].startswith("Question: ") and r["completion"].startswith(" ") for r in mix.rows)


def test_a_finding_is_judged_by_a_paired_interval_over_test_problems():
    from w2s_ray.eval.findings import finding, paired_interval as diff_interval

    better = {f"p{i}": float(i % 10 < 8) for i in range(200)}  # 80% right
    same = dict(better)
    worse = {f"p{i}": float(i % 10 < 5) for i in range(200)}  # 50%, wrong on a subset of better's misses
    clear = diff_interval(better, worse)
    assert clear["diff"] == pytest.approx(0.3) and clear["low"] > 0.2 and clear["problems"] == 200
    tie = diff_interval(better, same)
    assert tie["diff"] == tie["low"] == tie["high"] == 0  # paired: the same answers never differ
    assert diff_interval(better, {"other": 1.0}) is None
    assert finding("a", "80 > 50", clear)["holds"] is True and finding("t", "tie", tie)["verdict"] == "not distinguishable"
    reversed_ = finding("r", "50 > 80", diff_interval(worse, better))
    assert reversed_["holds"] is False and reversed_["verdict"] == "reversed" and reversed_["ci95"][1] < 0
    missing = finding("m", "not measured", None)
    assert missing["holds"] is None and missing["verdict"] == "not run" and missing["n_test"] == 0
