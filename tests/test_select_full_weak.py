"""Full weak fine-tuning baseline: every weak solution trains, only empty text is dropped."""
from __future__ import annotations

import pytest

from w2s_ray.select import take_all


def gen(pid, answer, text="work\n#### 1", model="weak", sample_index=0, level=2):
    return {"problem_id": pid, "model": model, "role": "weak", "sample_index": sample_index,
            "prompt": "p", "question": f"q{pid}", "text": text, "answer": answer, "gold": "1", "level": level}


def test_every_solution_with_text_is_kept_even_without_an_answer():
    rows = [gen("a", "1"), gen("b", "", text="I am not sure"), gen("c", "", text="   "), gen("d", "", text="")]
    sel = take_all(rows)
    assert sel.unit == "solution"
    assert [r["problem_id"] for r in sel.rows] == ["a", "b"]
    assert sel.n_in == 4 and sel.kept == 2 and sel.dropped == {"empty_text": 2}
    assert sel.rows[1]["completion"] == " I am not sure" and sel.rows[1]["prompt"] == "Question: qb\nAnswer:"


def test_all_samples_and_teachers_are_kept_in_canonical_order():
    rows = [gen("a", "1", model="w2", sample_index=1), gen("a", "1", model="w2", sample_index=0),
            gen("a", "1", model="w1"), gen("0", "1", model="w2")]
    sel = take_all(rows)
    assert [(r["problem_id"], r["source_model"], r["sample_index"]) for r in sel.rows] == [
        ("0", "w2", 0), ("a", "w1", 0), ("a", "w2", 0), ("a", "w2", 1)]
    assert sel.by_teacher == {"w1": {"kept": 1, "dropped": {}}, "w2": {"kept": 3, "dropped": {}}}
    assert take_all(list(reversed(rows))).sha256() == sel.sha256()


def test_no_dropped_reason_when_nothing_dropped():
    assert take_all([gen("a", "1")]).dropped == {}


def test_numpy_and_nan_levels_hash_like_plain_python():
    np = pytest.importorskip("numpy")
    plain = take_all([gen("a", "1", level=3), gen("b", "1", level=None)])
    from_pandas = take_all([{**gen("a", "1"), "level": np.int64(3), "sample_index": np.int64(0)},
                            {**gen("b", "1"), "level": float("nan")}])
    assert plain.sha256() == from_pandas.sha256()


def test_repeated_rows_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        take_all([gen("a", "1"), gen("a", "1")])
