import json

import pytest

from w2s_ray.data.formats import last_boxed
from w2s_ray.data.jsonl import write_jsonl
from w2s_ray.data.loaders import load_hf_dataset, load_jsonl, load_problems
from w2s_ray.data.schema import InputError, content_hash
from w2s_ray.data.splits import questions_only
from w2s_ray.data.world import generate_world

GSM8K_OK = {"question": "Tom has 3 apples and buys 2. How many?", "answer": "3 + 2 = 5\n#### 5"}
MATH_OK = {
    "problem": "What is half of one?",
    "solution": "Half of one is $\\boxed{\\frac{1}{2}}$.",
    "level": "Level 2",
    "type": "Algebra",
}
W2S_OK = {"question": "What is 2 + 2?", "gold": "4", "level": 1}


def _write(path, lines):
    """Lines given as dicts are dumped as JSON; strings are written verbatim."""
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


def test_gsm8k_mapping(tmp_path):
    long = {"question": "Q?", "answer": "\n".join(["step"] * 7) + "\n#### 1,234", "id": 17}
    path = _write(tmp_path / "g.jsonl", [GSM8K_OK, long])
    first, second = load_problems(path, "gsm8k").problems
    assert first.gold == "5"
    assert first.solution == GSM8K_OK["answer"]
    assert first.level == 1
    assert first.id == f"gsm8k:{content_hash(GSM8K_OK['question'])}"
    assert first.source == str(path)
    assert second.gold == "1234"
    assert second.level == 5  # seven steps, clipped
    assert second.id == "17"


def test_math_mapping(tmp_path):
    path = _write(tmp_path / "m.jsonl", [MATH_OK, dict(MATH_OK, problem="P2", level=4)])
    first, second = load_problems(path, "math").problems
    assert first.question == MATH_OK["problem"]
    assert first.gold == "\\frac{1}{2}"
    assert first.level == 2
    assert first.id.startswith("math:")
    assert second.level == 4


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so $\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}"),
        ("$\\boxed{1}$ or rather $\\boxed{ {a}^{2} }$.", " {a}^{2} "),
        ("\\boxed{\\boxed{3}}", "\\boxed{3}"),
        ("\\fbox{7}", "7"),
        ("\\boxed {x+1}", "x+1"),
        ("\\boxed{2} then \\boxed{\\frac{1}{2}", "2"),  # the last box never closes
        ("no box here", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_auto_detects_each_format(tmp_path):
    for name, record in [("gsm8k", GSM8K_OK), ("math", MATH_OK), ("w2s", W2S_OK)]:
        path = _write(tmp_path / f"{name}.jsonl", [record])
        assert load_problems(path).problems == load_problems(path, name).problems


def test_world_round_trip_in_own_schema(tmp_path):
    world = generate_world(20, seed=0)
    for problems in (world, questions_only(world)):
        path = tmp_path / "w.jsonl"
        assert write_jsonl(path, (p.to_row() for p in problems)) == 20
        assert load_problems(path, "w2s").problems == problems


def test_duplicates_kept_by_loader(tmp_path):
    path = _write(tmp_path / "d.jsonl", [GSM8K_OK, GSM8K_OK])
    assert len(load_jsonl(path).problems) == 2


def test_a_repeated_question_with_other_gold_is_refused_at_its_line_or_quarantined(tmp_path):
    # Whitespace and case differ: the same question by content hash, as splits.py de-duplicates.
    other = {"question": GSM8K_OK["question"].upper() + "  ", "answer": "3 + 3 = 6\n#### 6"}
    path = _write(tmp_path / "c.jsonl", [GSM8K_OK, GSM8K_OK, other])
    with pytest.raises(InputError, match="conflicting gold: the same question on line 1 has gold '5', "
                                         "this line '6'") as info:
        load_jsonl(path)
    assert (info.value.line, info.value.field) == (3, "answer")
    result = load_jsonl(path, quarantine=tmp_path / "q.jsonl")
    assert [p.gold for p in result.problems] == ["5", "5"] and result.quarantined == 1
    bad = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert (bad[0]["line"], bad[0]["field"]) == (3, "answer") and "conflicting gold" in bad[0]["error"]


def test_questions_only_repeats_are_no_conflict(tmp_path):
    path = _write(tmp_path / "w.jsonl", [{"question": "Q?", "gold": "1", "level": 1},
                                         {"question": "Q?", "gold": None, "level": 1}])
    assert len(load_jsonl(path).problems) == 2


@pytest.mark.parametrize("format, record, field", [
    ("gsm8k", {"question": "x" * (5 << 20), "answer": "#### 1"}, "question"),
    ("math", {"problem": "x" * (5 << 20), "solution": "\\boxed{1}", "level": "Level 1"}, "problem"),
])
def test_a_question_longer_than_any_context_is_refused_with_its_line(tmp_path, format, record, field):
    path = _write(tmp_path / "long.jsonl", [GSM8K_OK if format == "gsm8k" else
                                            {"problem": "P", "solution": "\\boxed{2}", "level": "Level 1"}, record])
    with pytest.raises(InputError, match="5,242,880 characters") as info:
        load_jsonl(path, format)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 2, field)


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    path = _write(tmp_path / "b.jsonl", [GSM8K_OK, "", "   ", "{bad"])
    with pytest.raises(InputError) as info:
        load_jsonl(path)
    assert info.value.line == 4


BAD_INPUTS = {
    "malformed_json": ("gsm8k", '{"question": "Q", "answer": ', None),
    "not_an_object": ("gsm8k", "[1, 2]", None),
    "missing_field": ("gsm8k", {"question": "Q"}, "answer"),
    "question_not_string": ("gsm8k", {"question": 3, "answer": "#### 3"}, "question"),
    "empty_question": ("gsm8k", {"question": "  ", "answer": "#### 3"}, "question"),
    "no_final_answer_mark": ("gsm8k", {"question": "Q", "answer": "3"}, "answer"),
    "id_wrong_type": ("gsm8k", dict(GSM8K_OK, id=[1]), "id"),
    "level_not_a_level": ("math", dict(MATH_OK, level="abc"), "level"),
    "level_unknown": ("math", dict(MATH_OK, level="Level 7"), "level"),
    "level_missing": ("math", {"problem": "P", "solution": "\\boxed{1}"}, "level"),
    "no_boxed_answer": ("math", dict(MATH_OK, solution="it is 1"), "solution"),
    "w2s_level_out_of_range": ("w2s", dict(W2S_OK, level=0), "level"),
    "w2s_level_bool": ("w2s", dict(W2S_OK, level=True), "level"),
    "w2s_gold_missing": ("w2s", {"question": "Q", "level": 1}, "gold"),
    "w2s_gold_wrong_type": ("w2s", dict(W2S_OK, gold=[4]), "gold"),
    "auto_unknown_keys": ("auto", {"prompt": "Q", "label": 1}, None),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_raises_naming_file_line_field(tmp_path, kind):
    format, bad, field = BAD_INPUTS[kind]
    good = {"gsm8k": GSM8K_OK, "math": MATH_OK, "w2s": W2S_OK, "auto": GSM8K_OK}[format]
    # The bad record comes third, after a blank line, so line counting is tested too.
    lines = [good, "", bad] if format != "auto" else [bad, good]
    path = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(InputError) as info:
        load_problems(path, format)
    err = info.value
    expected_line = 3 if format != "auto" else 1
    assert (err.path, err.line, err.field) == (str(path), expected_line, field)
    message = str(err)
    assert f"{path}:{expected_line}:" in message
    if field is not None:
        assert f"field '{field}'" in message


def test_invalid_utf8_line_is_an_error(tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_bytes(json.dumps(GSM8K_OK).encode() + b'\n{"question": "\xff\xfe"}\n')
    with pytest.raises(InputError, match=r"u\.jsonl:2: .*UTF-8"):
        load_jsonl(path)


def test_quarantine_keeps_good_lines_and_records_bad_ones(tmp_path):
    lines = [GSM8K_OK, "", "not json", {"question": 5, "answer": "#### 5"}, GSM8K_OK, "[]"]
    path = _write(tmp_path / "q.jsonl", lines)
    quarantine = tmp_path / "out" / "quarantine.jsonl"
    result = load_problems(path, "gsm8k", quarantine=quarantine)
    assert len(result.problems) == 2
    assert result.quarantined == 3
    assert result.quarantine_path == str(quarantine)
    entries = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [(e["path"], e["line"], e["field"]) for e in entries] == [
        (str(path), 3, None),
        (str(path), 4, "question"),
        (str(path), 6, None),
    ]
    assert [e["raw"] for e in entries] == ["not json", json.dumps(lines[3]), "[]"]
    assert all(e["error"] for e in entries)
    # Every non-blank line is either a problem or a quarantine entry.
    non_blank = sum(1 for line in path.read_text().splitlines() if line.strip())
    assert len(result.problems) + result.quarantined == non_blank


def test_quarantine_rewritten_on_clean_rerun(tmp_path):
    quarantine = tmp_path / "quarantine.jsonl"
    load_jsonl(_write(tmp_path / "a.jsonl", ["oops", GSM8K_OK]), quarantine=quarantine)
    result = load_jsonl(_write(tmp_path / "b.jsonl", [GSM8K_OK]), quarantine=quarantine)
    assert result.quarantined == 0
    assert quarantine.read_text() == ""


def test_auto_detection_skips_quarantined_lines(tmp_path):
    path = _write(tmp_path / "a.jsonl", ["oops", MATH_OK])
    result = load_jsonl(path, quarantine=tmp_path / "q.jsonl")
    assert result.quarantined == 1
    assert result.problems[0].gold == "\\frac{1}{2}"


def test_bad_spec_and_format_rejected(tmp_path):
    with pytest.raises(ValueError, match="jsonl"):
        load_problems(tmp_path / "x.json")
    with pytest.raises(ValueError, match="format"):
        load_problems(_write(tmp_path / "x.jsonl", [GSM8K_OK]), "csv")


def test_hf_path_on_a_local_json_file(tmp_path):
    path = _write(tmp_path / "g.jsonl", [GSM8K_OK, dict(GSM8K_OK, question="Other?")])
    cache = str(tmp_path / "hf_cache")
    result = load_hf_dataset("json", split="train", data_files=str(path), cache_dir=cache)
    from_file = load_jsonl(path).problems
    assert [p.source for p in result.problems] == ["hf:json[train]"] * 2
    assert [(p.id, p.question, p.gold, p.level) for p in result.problems] == [
        (p.id, p.question, p.gold, p.level) for p in from_file
    ]
    # Bad rows are located by 1-based row number under the dataset's name.
    bad = _write(tmp_path / "bad.jsonl", [GSM8K_OK, {"question": "Q"}])
    with pytest.raises(InputError) as info:
        load_hf_dataset("json", data_files=str(bad), cache_dir=cache, kind="gsm8k")
    assert (info.value.path, info.value.line, info.value.field) == ("hf:json[train]", 2, "answer")


def test_hf_spec_names_config_and_split():
    from w2s_ray.data.loaders import parse_hf_spec

    assert parse_hf_spec("hf:openai/gsm8k:main@test") == ("openai/gsm8k", "main", "test")
    assert parse_hf_spec("hf:json") == ("json", None, "train")
    assert parse_hf_spec("hf:EleutherAI/hendrycks_math:algebra", split="test") == ("EleutherAI/hendrycks_math", "algebra", "test")
    with pytest.raises(ValueError, match="hf:NAME"):
        parse_hf_spec("hf:@test")


HOSTILE_LINES = {
    "deep_nesting": "[" * 200_000,
    "huge_int": '{"question": "q?", "gold": ' + "9" * 5000 + ', "level": 1}',
    "lone_surrogate": '{"question": "\\ud800 what?", "gold": "1", "level": 1}',
    "surrogate_in_key": '{"question": "q2", "gold": "1", "level": 1, "\\udfff": 1}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_lines_python_cannot_hold_are_located_errors(tmp_path, name):
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(W2S_OK) + "\n" + HOSTILE_LINES[name] + "\n")
    with pytest.raises(InputError) as info:
        load_jsonl(path)
    assert info.value.line == 2 and info.value.path == str(path)


def test_quarantine_load_survives_every_hostile_line(tmp_path):
    path = tmp_path / "h.jsonl"
    other = json.dumps({"question": "What is 3 + 3?", "gold": "6", "level": 1})
    path.write_text("\n".join([json.dumps(W2S_OK), *HOSTILE_LINES.values(), other]) + "\n")
    quarantine = tmp_path / "q.jsonl"
    result = load_jsonl(path, quarantine=quarantine)
    assert len(result.problems) == 2 and result.quarantined == len(HOSTILE_LINES)
    lines = [json.loads(line)["line"] for line in quarantine.read_text().splitlines()]
    assert lines == [2, 3, 4, 5]


@pytest.mark.parametrize("lines", [[], ["", "  "], ["oops", "[1]"]])
def test_a_source_with_no_problems_is_an_error(tmp_path, lines):
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="no problems loaded"):
        load_jsonl(path, quarantine=tmp_path / "q.jsonl")
    with pytest.raises(InputError):
        load_jsonl(path)


def test_duplicate_ids_are_located_at_load(tmp_path):
    a = json.dumps({"id": "p1", "question": "one?", "gold": "1", "level": 1})
    b = json.dumps({"id": "p1", "question": "two?", "gold": "2", "level": 1})
    path = _write(tmp_path / "d.jsonl", [a, b])
    with pytest.raises(InputError, match="duplicate id 'p1' \\(first on line 1\\)") as info:
        load_jsonl(path)
    assert (info.value.line, info.value.field) == (2, "id")
    assert load_jsonl(path, quarantine=tmp_path / "q.jsonl").quarantined == 1


def test_write_jsonl_replaces_whole_or_not_at_all(tmp_path):
    from w2s_ray.data.jsonl import write_jsonl

    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"a": 1}])
    with pytest.raises(TypeError):
        write_jsonl(path, [{"a": 2}, {"a": object()}])  # fails after one row was written
    assert path.read_text() == '{"a": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]  # no temporary left behind
