"""Consistency filter: what is kept, why the rest is dropped, and that gold never decides."""
from __future__ import annotations

import pytest

from tests.gold_trap import trapped
from w2s_ray.select import SFT_COLUMNS, consistency_filter, take_all


def gen(pid, answer, model="weak", role="weak", sample_index=0, text=None, gold="7", level=1):
    return {
        "problem_id": pid, "model": model, "role": role, "sample_index": sample_index,
        "prompt": f"(few-shot demos)\nQuestion: q{pid}?\nAnswer:", "question": f"q{pid}?",
        "text": text if text is not None else f"  steps for {pid} by {model}\n#### {answer}  ",
        "answer": answer, "gold": gold, "level": level,
        "correct": answer == gold, "has_gold": gold is not None, "n_steps": 1,
    }


def strong(pid, answer, **kw):
    return gen(pid, answer, model="strong", role="strong", **kw)


def test_keeps_only_non_empty_equal_answers_and_counts_reasons():
    weak = [gen("a", "7"), gen("b", "3"), gen("c", ""), gen("d", "5"), gen("e", "1")]
    strong_rows = [strong("a", "7"), strong("b", "4"), strong("c", "2"), strong("d", ""), strong("f", "9")]
    sel = consistency_filter(weak, strong_rows)
    assert sel.unit == "problem"
    assert sel.n_in == 6 and sel.kept == 1
    assert sel.dropped == {"disagree": 1, "weak_empty": 1, "strong_empty": 1, "missing_strong": 1, "missing_weak": 1}
    assert sel.kept + sum(sel.dropped.values()) == sel.n_in
    assert [(r["problem_id"], r["source_model"], r["role"]) for r in sel.rows] == [("a", "strong", "strong"), ("a", "weak", "weak")]


def test_both_empty_counts_as_weak_empty():
    sel = consistency_filter([gen("a", "")], [strong("a", "")])
    assert sel.dropped == {"weak_empty": 1}


def test_answers_compared_after_normalisation():
    sel = consistency_filter([gen("a", "1,000.0")], [strong("a", "$1000")])
    assert sel.kept == 1


def test_sft_rows_use_zero_shot_prompt_and_stripped_completion():
    sel = consistency_filter([gen("a", "7", level=3)], [strong("a", "7", level=3)])
    weak_row = next(r for r in sel.rows if r["role"] == "weak")
    assert tuple(sorted(weak_row)) == tuple(sorted(SFT_COLUMNS))
    assert weak_row["prompt"] == "Question: qa?\nAnswer:"  # not the few-shot prompt it was generated with
    assert weak_row["completion"] == " steps for a by weak\n#### 7"
    assert weak_row["level"] == 3 and weak_row["answer"] == "7" and weak_row["source_model"] == "weak"


def test_greedy_uses_sample_zero_when_several_samples():
    weak = [gen("a", "9", sample_index=1), gen("a", "7", sample_index=0), gen("a", "9", sample_index=2)]
    sel = consistency_filter(weak, [strong("a", "9", sample_index=3), strong("a", "7", sample_index=0)])
    assert sel.kept == 1
    assert {r["sample_index"] for r in sel.rows} == {0}


def test_duplicate_rows_are_refused_not_silently_deduplicated():
    with pytest.raises(ValueError, match="duplicate generation rows"):
        consistency_filter([gen("a", "7"), gen("a", "7")], [strong("a", "7")])


def test_swapped_arguments_are_refused():
    with pytest.raises(ValueError, match="role 'strong'"):
        consistency_filter([strong("a", "7")], [gen("a", "7")])


def test_two_strong_models_are_refused():
    with pytest.raises(ValueError, match="one strong model"):
        consistency_filter([gen("a", "7")], [strong("a", "7"), gen("b", "7", model="strong2", role="strong")])


def test_several_weak_teachers_agree_per_teacher_with_one_strong_row():
    weak = [gen("a", "7", model="w1"), gen("a", "7", model="w2"), gen("a", "8", model="w3"),
            gen("b", "1", model="w1"), gen("b", "", model="w2"),
            gen("c", "5", model="w2")]
    strong_rows = [strong("a", "7"), strong("b", "2"), strong("c", "5")]
    sel = consistency_filter(weak, strong_rows)
    assert [(r["problem_id"], r["source_model"]) for r in sel.rows] == [
        ("a", "strong"), ("a", "w1"), ("a", "w2"), ("c", "strong"), ("c", "w2")]
    assert sel.n_in == 3 and sel.kept == 2 and sel.dropped == {"disagree": 1}
    assert sel.by_teacher["w1"] == {"kept": 1, "dropped": {"disagree": 1, "missing_weak": 1}}
    assert sel.by_teacher["w2"] == {"kept": 2, "dropped": {"weak_empty": 1}}
    assert sel.by_teacher["w3"] == {"kept": 0, "dropped": {"disagree": 1, "missing_weak": 2}}


def test_problem_reason_when_all_teachers_empty():
    sel = consistency_filter([gen("a", "", model="w1"), gen("a", "", model="w2")], [strong("a", "3")])
    assert sel.dropped == {"weak_empty": 1}


def test_output_is_deterministic_whatever_the_input_order():
    weak = [gen(p, "1", model=m) for p in "dcab" for m in ("w2", "w1")]
    strong_rows = [strong(p, "1") for p in "bdac"]
    a = consistency_filter(weak, strong_rows)
    b = consistency_filter(list(reversed(weak)), list(reversed(strong_rows)))
    assert a.rows == b.rows and a.sha256() == b.sha256() and a.stats() == b.stats()
    keys = [(r["problem_id"], r["source_model"]) for r in a.rows]
    assert keys == sorted(keys)


def test_sha256_changes_with_the_selected_data():
    base = consistency_filter([gen("a", "7")], [strong("a", "7")])
    other_text = consistency_filter([gen("a", "7", text="other\n#### 7")], [strong("a", "7")])
    assert base.sha256() != other_text.sha256()
    assert base.stats()["sha256"] == base.sha256() and base.stats()["rows_out"] == 2


@pytest.mark.parametrize("select", ["consistency", "take_all"])
def test_selection_never_reads_gold(select):
    weak = [gen("a", "7"), gen("b", "3"), gen("c", "", model="w2")]
    strong_rows = [strong("a", "7"), strong("b", "4"), strong("c", "1")]
    if select == "consistency":
        guarded = consistency_filter([trapped(r) for r in weak], [trapped(r) for r in strong_rows])
        plain = consistency_filter(weak, strong_rows)
    else:
        guarded, plain = take_all([trapped(r) for r in weak]), take_all(weak)
    assert guarded.sha256() == plain.sha256()  # json of a poisoned value would have raised
    assert all("gold" not in r and "correct" not in r for r in guarded.rows)


def test_gold_values_do_not_change_the_selection():
    weak = [gen("a", "7", gold="7"), gen("b", "3", gold="3")]
    strong_rows = [strong("a", "7", gold="7"), strong("b", "3", gold="3")]
    relabelled = [{**r, "gold": None, "correct": False, "has_gold": False} for r in weak]
    strong_relabelled = [{**r, "gold": "999", "correct": True} for r in strong_rows]
    assert consistency_filter(weak, strong_rows).stats() == consistency_filter(relabelled, strong_relabelled).stats()
