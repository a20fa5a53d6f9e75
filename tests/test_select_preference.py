"""Stage II preference pairs: every branch of the rule, its thresholds, the accounting, and no gold."""
from __future__ import annotations

import pytest

from tests.gold_trap import trapped
from w2s_ray.select import PREFERENCE_COLUMNS, build_preference_pairs
from w2s_ray.select.preference import DROP_REASONS


def row(pid, answer, model, role, sample_index=0, text=None, gold="7", level=4):
    return {
        "problem_id": pid, "model": model, "role": role, "sample_index": sample_index,
        "prompt": f"(few-shot demos)\nQuestion: q{pid}?\nAnswer:", "question": f"q{pid}?",
        "text": text if text is not None else f" {model} #{sample_index} on {pid}\n#### {answer} ",
        "answer": answer, "gold": gold, "level": level,
        "correct": answer == gold, "has_gold": gold is not None,
    }


def weak(pid, answer, model="weak", **kw):
    return row(pid, answer, model, "weak", **kw)


def student(pid, answers, model="student", **kw):
    """One student row per answer, sample_index 0..n-1."""
    return [row(pid, a, model, "strong", sample_index=i, **kw) for i, a in enumerate(answers)]


def one(student_rows, weak_rows, **kw):
    sel = build_preference_pairs(student_rows, weak_rows, **kw)
    assert sel.kept + sum(sel.dropped.values()) == sel.n_in
    return sel


# --- the two cases -----------------------------------------------------------------------------

def test_weak_agrees_with_the_majority_chosen_is_weak_rejected_a_minority_sample():
    sel = one(student("a", ["7"] * 7 + ["8", "9", ""]), [weak("a", "7")])
    assert sel.kept == 1 and sel.dropped == {}
    pair = sel.rows[0]
    assert set(pair) == set(PREFERENCE_COLUMNS)
    assert pair["case"] == "weak_agrees" and pair["confidence"] == pytest.approx(0.7)
    assert pair["chosen"] == " weak #0 on a\n#### 7" and pair["chosen_source"] == "weak:weak:0"
    assert pair["rejected_answer"] in {"8", "9", ""} and pair["rejected_source"].startswith("strong:student:")
    index = int(pair["rejected_source"].rsplit(":", 1)[1])
    assert index in {7, 8, 9} and pair["rejected"] == f" student #{index} on a\n#### {pair['rejected_answer']}"
    assert pair["prompt"] == "Question: qa?\nAnswer:"  # zero-shot, as SFT rows, not the few-shot prompt
    assert (pair["problem_id"], pair["level"], pair["top_answer"], pair["source_model"]) == ("a", 4, "7", "weak")


def test_majority_overrules_a_disagreeing_weak_solution_when_confident():
    sel = one(student("a", ["5"] * 8 + ["7", "7"]), [weak("a", "7")])
    pair = sel.rows[0]
    assert pair["case"] == "majority_overrules" and pair["confidence"] == pytest.approx(0.8)
    assert pair["rejected"] == " weak #0 on a\n#### 7" and pair["rejected_source"] == "weak:weak:0"
    assert pair["chosen_answer"] == "5" and int(pair["chosen_source"].rsplit(":", 1)[1]) in range(8)


def test_a_weak_solution_without_answer_is_overruled_like_any_other():
    # The rule compares the weak answer with the top one; no answer is a different answer.
    pair = one(student("a", ["5"] * 9 + ["6"]), [weak("a", "")]).rows[0]
    assert pair["case"] == "majority_overrules" and pair["rejected_answer"] == ""


def test_a_sample_without_answer_can_be_the_rejected_minority():
    sel = one(student("a", ["7"] * 9 + [""]), [weak("a", "7")])
    assert sel.rows[0]["rejected_source"] == "strong:student:9" and sel.rows[0]["rejected_answer"] == ""


# --- thresholds, exactly at and just below ---------------------------------------------------

@pytest.mark.parametrize("n_top, kept", [(6, True), (5, False)])
def test_min_confidence_admits_exactly_six_of_ten(n_top, kept):
    answers = ["7"] * n_top + ["1", "2", "3", "4"] + ["5"] * (6 - n_top)
    sel = one(student("a", answers), [weak("a", "7")])
    assert (sel.kept, sel.dropped) == ((1, {}) if kept else (0, {"low_confidence": 1}))


@pytest.mark.parametrize("n_top, kept", [(8, True), (7, False)])
def test_flip_confidence_admits_exactly_eight_of_ten(n_top, kept):
    answers = ["5"] * n_top + ["7"] * (10 - n_top)
    sel = one(student("a", answers), [weak("a", "7")])
    assert (sel.kept, sel.dropped) == ((1, {}) if kept else (0, {"disagree_below_flip": 1}))


def test_thresholds_hold_for_other_sample_counts_and_values():
    # 4 of 5 is 0.8 and 3 of 5 is 0.6; a threshold of 0.7 admits 7 of 10 and not 6.
    assert one(student("a", ["5"] * 4 + ["7"]), [weak("a", "7")]).kept == 1
    assert one(student("a", ["7"] * 3 + ["1", "2"]), [weak("a", "7")]).kept == 1
    assert one(student("a", ["5"] * 7 + ["7"] * 3), [weak("a", "7")], flip_confidence=0.7).kept == 1
    assert one(student("a", ["5"] * 6 + ["7"] * 4), [weak("a", "7")], flip_confidence=0.7).dropped == {
        "disagree_below_flip": 1}


def test_thresholds_are_parameters():
    answers = ["7"] * 5 + ["1", "2", "3", "4", "5"]
    assert one(student("a", answers), [weak("a", "7")], min_confidence=0.5).kept == 1
    with pytest.raises(ValueError, match="min_confidence"):
        build_preference_pairs(student("a", answers), [weak("a", "7")], min_confidence=1.5)


# --- every drop reason ----------------------------------------------------------------------

@pytest.mark.parametrize("answers, weak_answer, reason", [
    (["", "", ""], "7", "no_parseable_answers"),
    (["7", "7", "8", "8"], "7", "no_majority"),
    (["", "", "7"], "7", "empty_top_answer"),
    (["7", "", "", "7"], "7", "no_majority"),  # empty ties with the top answer
    (["7"] * 10, "7", "no_minority_sample"),
    (["5"] * 7 + ["7"] * 3, "7", "disagree_below_flip"),
    (["5", "5", "6", "7"], "7", "low_confidence"),
])
def test_drop_reasons(answers, weak_answer, reason):
    sel = one(student("a", answers), [weak("a", weak_answer)])
    assert sel.rows == [] and sel.dropped == {reason: 1}


def test_a_tie_is_no_majority_even_where_the_threshold_would_admit_it():
    sel = one(student("a", ["7"] * 5 + ["8"] * 5), [weak("a", "7")], min_confidence=0.5)
    assert sel.dropped == {"no_majority": 1}


def test_minority_samples_without_text_are_never_picked():
    no_text = row("a", "", "student", "strong", sample_index=9, text="   ")
    sel = one([*student("a", ["7"] * 9), no_text], [weak("a", "7")])
    assert sel.dropped == {"no_minority_sample": 1}


def test_a_weak_solution_without_text_is_not_made_the_rejected_side():
    sel = one(student("a", ["5"] * 10), [weak("a", "", text="")])
    assert sel.dropped == {"weak_empty_text": 1}


def test_missing_sides_are_counted():
    sel = one([*student("a", ["7"] * 9 + ["1"]), *student("s", ["7"] * 10)], [weak("a", "7"), weak("w", "7")])
    assert sel.n_in == 3 and sel.kept == 1
    assert sel.dropped == {"weak_missing": 1, "student_missing": 1}


def test_drop_counts_add_up_over_a_mixed_set_and_name_only_known_reasons():
    student_rows = [
        *student("a", ["7"] * 8 + ["1", "2"]),   # weak agrees
        *student("b", ["5"] * 9 + ["7"]),        # majority overrules
        *student("c", ["", "", ""]),             # no_parseable_answers
        *student("d", ["1", "2", "1", "2"]),     # no_majority
        *student("e", ["3"] * 5),                # no_minority_sample
        *student("f", ["3"] * 6 + ["7"] * 4),    # disagree_below_flip
        *student("g", ["3", "4", "5"]),          # no_majority (three-way tie)
        *student("h", ["3", "3", "4", "5"]),     # low_confidence
    ]
    weak_rows = [weak(p, a) for p, a in zip("abcdefghz", ["7", "7", "1", "1", "3", "7", "3", "3", "9"])]
    sel = one(student_rows, weak_rows)
    assert sel.unit == "teacher_problem" and sel.n_in == 9 and sel.kept == 2
    assert sel.dropped == {"no_parseable_answers": 1, "no_majority": 2, "no_minority_sample": 1,
                           "disagree_below_flip": 1, "low_confidence": 1, "student_missing": 1}
    assert set(sel.dropped) <= set(DROP_REASONS)
    assert sel.by_teacher == {"weak": {"kept": 2, "dropped": sel.dropped,
                                       "cases": {"majority_overrules": 1, "weak_agrees": 1}}}
    assert [(r["problem_id"], r["case"]) for r in sel.rows] == [("a", "weak_agrees"), ("b", "majority_overrules")]


def test_answers_are_compared_after_normalisation():
    sel = one(student("a", ["1,000", "1000.0", "$1000", "3"]), [weak("a", "1000")])
    assert sel.rows[0]["case"] == "weak_agrees" and sel.rows[0]["top_answer"] == "1000"


# --- several teachers, determinism, bad input -------------------------------------------------

def test_each_weak_teacher_gets_its_own_pair_against_one_vote():
    student_rows = student("a", ["7"] * 8 + ["1", "2"])
    weak_rows = [weak("a", "7", model="w1"), weak("a", "2", model="w2"), weak("a", "3", model="w3", text="")]
    sel = one(student_rows, weak_rows)
    assert sel.n_in == 3 and sel.kept == 2 and sel.dropped == {"weak_empty_text": 1}
    assert [(r["source_model"], r["case"]) for r in sel.rows] == [("w1", "weak_agrees"), ("w2", "majority_overrules")]
    assert sel.by_teacher["w3"] == {"kept": 0, "dropped": {"weak_empty_text": 1}, "cases": {}}


def test_the_weak_greedy_solution_is_sample_zero():
    weak_rows = [weak("a", "5", sample_index=1), weak("a", "7", sample_index=0)]
    pair = one(student("a", ["7"] * 8 + ["1", "2"]), weak_rows).rows[0]
    assert pair["case"] == "weak_agrees" and pair["chosen_source"] == "weak:weak:0"


def many_problems():
    student_rows, weak_rows = [], []
    for i in range(40):
        pid = f"p{i:02d}"
        student_rows += student(pid, ["7"] * 6 + ["1", "2", "3", "4"] if i % 2 else ["5"] * 8 + ["7", "6"])
        weak_rows.append(weak(pid, "7"))
    return student_rows, weak_rows


def test_same_seed_same_pairs_whatever_the_input_order_and_other_seeds_differ():
    student_rows, weak_rows = many_problems()
    a = one(student_rows, weak_rows, seed=3)
    b = one(list(reversed(student_rows)), list(reversed(weak_rows)), seed=3)
    assert a.rows == b.rows and a.sha256() == b.sha256() and a.stats() == b.stats()
    assert a.kept == 40
    assert one(student_rows, weak_rows, seed=4).sha256() != a.sha256()
    # A problem's pair does not depend on which other problems are in the set.
    alone = one([r for r in student_rows if r["problem_id"] == "p07"], [weak("p07", "7")], seed=3)
    assert alone.rows == [r for r in a.rows if r["problem_id"] == "p07"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="duplicate student rows"):
        build_preference_pairs([*student("a", ["7"]), *student("a", ["7"])], [weak("a", "7")])
    with pytest.raises(ValueError, match="role 'weak'"):
        build_preference_pairs([weak("a", "7")], [weak("a", "7")])
    with pytest.raises(ValueError, match="one student"):
        build_preference_pairs([*student("a", ["7"]), *student("b", ["7"], model="other")], [weak("a", "7")])
    with pytest.raises(ValueError, match="weak_rows is empty"):
        build_preference_pairs(student("a", ["7"]), [])
    with pytest.raises(ValueError, match="different questions"):
        build_preference_pairs(student("a", ["7"]), [{**weak("a", "7"), "question": "other?"}])


def test_no_student_rows_drops_everything_with_a_reason():
    sel = one([], [weak("a", "7"), weak("b", "1")])
    assert sel.rows == [] and sel.dropped == {"student_missing": 2}


# --- gold is never read --------------------------------------------------------------------

def test_gold_is_never_read_and_does_not_change_the_pairs():
    student_rows, weak_rows = many_problems()
    plain = one(student_rows, weak_rows)
    guarded = one([trapped(r) for r in student_rows], [trapped(r) for r in weak_rows])
    assert guarded.sha256() == plain.sha256() and guarded.stats() == plain.stats()
    relabelled = one([{**r, "gold": "999", "correct": True} for r in student_rows],
                     [{**r, "gold": None, "correct": False, "has_gold": False} for r in weak_rows])
    assert relabelled.stats() == plain.stats()
    assert all(not set(r) & {"gold", "correct", "has_gold"} for r in plain.rows)


def test_max_pairs_gives_several_pairs_a_question_and_counts_the_question_once():
    agree = one(student("a", ["7"] * 6 + ["8", "9", "1", "2"]), [weak("a", "7")], max_pairs=3)
    assert agree.kept == 1 and agree.n_in == 1 and len(agree.rows) == 3
    assert len({r["rejected"] for r in agree.rows}) == 3 and {r["chosen"] for r in agree.rows} == {agree.rows[0]["chosen"]}
    few = one(student("b", ["7"] * 8 + ["8", "9"]), [weak("b", "7")], max_pairs=3)
    assert len(few.rows) == 2  # every minority sample when there are no more than max_pairs
    flip = one(student("c", ["7"] * 9 + ["8"]), [weak("c", "5")], max_pairs=3)
    assert flip.kept == 1 and len(flip.rows) == 3 and {r["case"] for r in flip.rows} == {"majority_overrules"}
    assert flip.by_teacher["weak"] == {"kept": 1, "dropped": {}, "cases": {"majority_overrules": 1}}
    with pytest.raises(ValueError, match="max_pairs"):
        build_preference_pairs(student("a", ["7"]), [weak("a", "7")], max_pairs=0)
