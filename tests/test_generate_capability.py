"""Generation rows carry a problem's capability (issue 28), and only where a stage has one: an
arithmetic-only stage's rows are what they always were; a capability row's answer is its format's."""
from __future__ import annotations

from w2s_ray.config import TeacherConfig
from w2s_ray.generate.stage import OUTPUT_COLUMNS, _finish, build_requests

ARITH = {"id": "a1", "question": "Mia has 2 cats. How many cats does Mia have now?", "gold": "2", "level": 1}
LOGIC = {"id": "logic:x", "question": "All cats are grey. Tom is a cat. Is Tom grey?", "gold": "yes", "level": 1,
         "capability": "logic"}
TEACHER = TeacherConfig(name="t", model="m")


def _out(request: dict, text: str) -> dict:
    request = {k: v for k, v in request.items() if k != "sampling_params"}
    return _finish({**request, "text": text, "n_prompt_tokens": 3, "n_generated_tokens": 2,
                    "finish_reason": "stop", "stop_token_id": -1})


def test_an_arithmetic_stage_has_no_capability_column():
    (request,) = build_requests([ARITH], TEACHER, None)
    assert "capability" not in request
    row = _out(request, "2 + 0 = 2\n#### 2")
    assert tuple(row) == OUTPUT_COLUMNS and row["answer"] == "2"


def test_a_mixed_stage_names_every_rows_capability_null_for_arithmetic():
    arith, logic = build_requests([ARITH, {**ARITH, "id": "a2", "capability": "arithmetic"} | {"question": "q"}, LOGIC],
                                  TEACHER, None)[0::2]
    assert arith["capability"] is None and logic["capability"] == "logic"
    rows = [_out(arith, "#### 2"), _out(logic, "Tom is a cat, so grey.\nVerdict: Yes")]
    assert [r["capability"] for r in rows] == [None, "logic"]
    assert rows[0]["answer"] == "2" and rows[1]["answer"] == "yes"  # the logic format's reading
    assert _out(logic, "#### 7")["answer"] == ""  # an arithmetic answer is no logic answer
