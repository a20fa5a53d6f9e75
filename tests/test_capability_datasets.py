"""SciQ and e-SNLI as testbed capabilities (data/capability_formats.py), read from local JSONL, parquet
and `datasets` files the tests write (no network), and the multi_capability recipe reading real
datasets per capability (its `sources`)."""
from __future__ import annotations

import json

import pytest

from w2s_ray.config import RunConfig
from w2s_ray.config.base import hash_exclude
from w2s_ray.data.capabilities import get_capability
from w2s_ray.data.loaders import load_hf_dataset, load_problems
from w2s_ray.data.schema import InputError, content_hash
from w2s_ray.recipes.multi_capability import data as mc_data
from w2s_ray.recipes.multi_capability.config import MultiCapabilityConfig
from w2s_ray.text.capability_answers import LETTERS


def sciq_row(i: int, support: str | None = "Plants make food from light.") -> dict:
    return {"question": f"What does plant number {i} need to make food?", "correct_answer": f"light {i}",
            "distractor1": f"salt {i}", "distractor2": f"sand {i}", "distractor3": f"iron {i}", "support": support}


def esnli_row(i: int, label) -> dict:
    return {"premise": f"A man number {i} plays a guitar on a stage.", "hypothesis": f"Person {i} makes music.",
            "label": label, "explanation_1": "Playing a guitar is making music.", "explanation_2": ""}


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_sciq_rows_are_facts_problems_with_shuffled_options_and_the_gold_letter(tmp_path):
    rows = [sciq_row(i) for i in range(40)]
    problems = load_problems(write_jsonl(tmp_path / "sciq.jsonl", rows), "sciq").problems
    facts = get_capability("facts")
    for row, p in zip(rows, problems):
        assert p.capability == "facts" and p.level is None and p.id == f"sciq:{content_hash(p.question)}"
        assert facts.choices(p.question) == LETTERS
        assert p.question.startswith(row["question"] + " (A) ")
        assert f"({p.gold}) {row['correct_answer']}" in p.question  # the gold letter marks the right option
        assert all(row[f"distractor{k}"] in p.question for k in (1, 2, 3))
        assert p.solution == f"{row['support']}\nChoice: {p.gold}" and facts.check(p.gold, p.solution)
        assert not facts.check(p.gold, f"Choice: {'B' if p.gold == 'A' else 'A'}")
    assert len({p.gold for p in problems}) == 4  # the shuffle moves the right option about


def test_the_option_shuffle_follows_the_seed_and_the_row_not_its_place_in_the_file(tmp_path):
    rows = [sciq_row(i) for i in range(20)]
    forward = load_problems(write_jsonl(tmp_path / "a.jsonl", rows), "sciq", seed=3).problems
    backward = load_problems(write_jsonl(tmp_path / "b.jsonl", rows[::-1]), "sciq", seed=3).problems
    assert [(p.question, p.gold) for p in forward] == [(p.question, p.gold) for p in backward[::-1]]
    other = load_problems(str(tmp_path / "a.jsonl"), "sciq", seed=4).problems
    assert [p.question for p in other] != [p.question for p in forward]
    assert all(f"({p.gold}) light {i}" in p.question for i, p in enumerate(other))


def test_a_sciq_row_without_support_still_has_a_checking_solution(tmp_path):
    rows = [sciq_row(0, support=None), sciq_row(1, support="  ")]
    for p in load_problems(write_jsonl(tmp_path / "s.jsonl", rows), "sciq").problems:
        assert p.solution == f"Choice: {p.gold}"


def test_esnli_labels_map_to_logic_verdicts(tmp_path):
    rows = [esnli_row(0, 0), esnli_row(1, 1), esnli_row(2, 2), esnli_row(3, "contradiction"), esnli_row(4, "Neutral")]
    problems = load_problems(write_jsonl(tmp_path / "e.jsonl", rows), "esnli").problems
    assert [p.gold for p in problems] == ["yes", "unknown", "no", "no", "unknown"]
    logic = get_capability("logic")
    for row, p in zip(rows, problems):
        assert p.capability == "logic" and p.level is None
        assert row["premise"] in p.question and row["hypothesis"] in p.question
        assert p.solution == f"Playing a guitar is making music.\nVerdict: {p.gold}" and logic.check(p.gold, p.solution)


def test_auto_tells_sciq_and_esnli_from_their_keys(tmp_path):
    assert load_problems(write_jsonl(tmp_path / "s.jsonl", [sciq_row(0)])).problems[0].capability == "facts"
    assert load_problems(write_jsonl(tmp_path / "e.jsonl", [esnli_row(0, 2)])).problems[0].gold == "no"


def test_bad_rows_are_quarantined_naming_file_line_and_field(tmp_path):
    same = {**sciq_row(2), "distractor3": "Light 2"}
    missing = {k: v for k, v in sciq_row(3).items() if k != "distractor2"}
    marked = {**sciq_row(4), "question": "Which is right? (A) this one"}
    path = write_jsonl(tmp_path / "sciq.jsonl", [sciq_row(1), same, missing, marked])
    with pytest.raises(InputError, match=r"sciq.jsonl:2: field 'distractor3' the same option as correct_answer"):
        load_problems(path, "sciq")
    quarantine = tmp_path / "q.jsonl"
    result = load_problems(path, "sciq", quarantine=quarantine)
    assert len(result.problems) == 1 and result.quarantined == 3
    bad = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [(b["path"], b["line"], b["field"]) for b in bad] == [(path, 2, "distractor3"), (path, 3, "distractor2"),
                                                                (path, 4, "question")]
    assert bad[1]["error"] == "missing"

    rows = [esnli_row(0, -1), esnli_row(1, 7), {**esnli_row(2, 0), "premise": ""}, esnli_row(3, 1),
            {**esnli_row(4, 0), "explanation_1": "Verdict: no, it does not"}]
    path = write_jsonl(tmp_path / "esnli.jsonl", rows)
    with pytest.raises(InputError, match=r"esnli.jsonl:1: field 'label' .*got -1 \(no gold label"):
        load_problems(path, "esnli")
    result = load_problems(path, "esnli", quarantine=quarantine)
    assert [p.gold for p in result.problems] == ["unknown"]
    bad = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [(b["line"], b["field"]) for b in bad] == [(1, "label"), (2, "label"), (3, "premise"), (5, "explanation_1")]


def test_parquet_files_and_the_datasets_path_read_the_same_rows(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [sciq_row(i) for i in range(6)]
    jsonl = load_problems(write_jsonl(tmp_path / "s.jsonl", rows), "sciq", seed=1).problems
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "s.parquet")
    assert load_problems(str(tmp_path / "s.parquet"), "sciq", seed=1).problems == [
        p.__class__(**{**p.__dict__, "source": str(tmp_path / "s.parquet")}) for p in jsonl]
    with pytest.raises(InputError, match="not a readable parquet file"):
        (tmp_path / "broken.parquet").write_text("not parquet")
        load_problems(str(tmp_path / "broken.parquet"))
    # The hub path (hf:allenai/sciq, hf:esnli) goes through datasets.load_dataset; a local file through
    # its "parquet" builder takes the same road with no network.
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    via_datasets = load_hf_dataset("parquet", "train", kind="sciq", seed=1, data_files=str(tmp_path / "s.parquet"),
                                   cache_dir=str(tmp_path / "cache")).problems
    assert [(p.question, p.gold, p.solution) for p in via_datasets] == [(p.question, p.gold, p.solution) for p in jsonl]


# -- the recipe's sources ------------------------------------------------------------------------------

BASE = {"name": "t", "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"},
        "recipe": "multi_capability"}
SECTION = {"capabilities": ["logic", "facts"], "n_weak_train": 8, "n_strong_train": 6, "n_test_per_level": 1}


def test_an_empty_sources_keeps_the_config_hash_and_the_testbed_splits():
    plain = RunConfig.model_validate({**BASE, "multi_capability": SECTION})
    explicit = RunConfig.model_validate({**BASE, "multi_capability": {**SECTION, "sources": {}}})
    assert plain.config_hash() == explicit.config_hash()
    assert hash_exclude(plain)["multi_capability"]["sources"] is True  # unset: hashed as absent
    with_source = RunConfig.model_validate({**BASE, "multi_capability": {
        **SECTION, "sources": {"facts": {"train": "a.jsonl", "test": "b.jsonl", "format": "sciq"}}}})
    assert with_source.config_hash() != plain.config_hash()
    assert mc_data.per_capability(plain.multi_capability, 0) == {
        name: mc_data.capability_splits(name, 0, 8, 6, 1) for name in ("logic", "facts")}


def test_a_source_must_name_a_capability_of_the_run_in_a_format_that_makes_it():
    with pytest.raises(ValueError, match="sources.commands: not one of the capabilities"):
        MultiCapabilityConfig(**SECTION, sources={"commands": {"train": "a.jsonl", "test": "b.jsonl"}})
    with pytest.raises(ValueError, match="sources.facts: format 'esnli' makes logic problems, not facts"):
        MultiCapabilityConfig(**SECTION, sources={"facts": {"train": "a.jsonl", "test": "b.jsonl", "format": "esnli"}})


def test_a_real_source_gives_its_capability_burns_halves_by_content_hash(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [sciq_row(i) for i in range(40)] + [{"question": "broken"}])
    test = write_jsonl(tmp_path / "test.jsonl", [sciq_row(i) for i in range(100, 110)])
    source = {"train": train, "test": test, "format": "sciq", "quarantine_dir": str(tmp_path / "q"),
              "n_weak_train": 12, "n_test": 5}
    mc = MultiCapabilityConfig(**SECTION, sources={"facts": source})
    per = mc_data.per_capability(mc, 0)
    assert per["logic"] == mc_data.capability_splits("logic", 0, 8, 6, 1)  # the testbed's, as before
    facts = per["facts"]
    assert [len(facts[s]) for s in ("weak_train", "strong_train", "test")][::2] == [12, 5]
    assert 10 <= len(facts["strong_train"]) <= 30  # about half of 40, by hash
    ids = {s: {p.id for p in facts[s]} for s in facts}
    assert not ids["weak_train"] & ids["strong_train"] and not ids["test"] & (ids["weak_train"] | ids["strong_train"])
    for split in facts.values():
        hashes = [content_hash(p.question) for p in split]
        assert hashes == sorted(hashes) and all(p.capability == "facts" and p.gold in LETTERS for p in split)
    assert mc_data.source_stats(mc, 0)["facts"]["quarantined"] == {"train": 1, "test": 0}
    assert json.loads((tmp_path / "q" / "facts" / "train.quarantine.jsonl").read_text())["line"] == 41
    splits = mc_data.splits(mc, 0)
    assert all(p.gold is None and p.solution is None for p in splits["strong_train"])
    assert {p.id for p in mc_data.strong_half_gold(mc, 0) if p.capability == "facts"} == ids["strong_train"]


def test_a_source_whose_rows_test_another_capability_is_refused(tmp_path):
    train = write_jsonl(tmp_path / "e.jsonl", [esnli_row(i, i % 3) for i in range(10)])
    test = write_jsonl(tmp_path / "t.jsonl", [esnli_row(i, i % 3) for i in range(10, 14)])
    mc = MultiCapabilityConfig(**SECTION, sources={"facts": {"train": train, "test": test}})  # format auto
    with pytest.raises(InputError, match="tests logic, but this file is the source of facts"):
        mc_data.per_capability(mc, 0)


def test_gsm8k_as_the_arithmetic_source_keeps_arithmetic_rows(tmp_path):
    rows = [{"question": f"Tom has {i} apples and buys 2. How many?", "answer": f"{i} + 2 = {i + 2}\n#### {i + 2}"}
            for i in range(30)]
    train = write_jsonl(tmp_path / "gsm8k_train.jsonl", rows[:24])
    test = write_jsonl(tmp_path / "gsm8k_test.jsonl", rows[24:])
    mc = MultiCapabilityConfig(capabilities=["arithmetic", "logic"], n_weak_train=4, n_strong_train=4,
                               n_test_per_level=1, sources={"arithmetic": {"train": train, "test": test,
                                                                           "format": "gsm8k"}})
    arithmetic = mc_data.per_capability(mc, 0)["arithmetic"]
    assert len(arithmetic["test"]) == 6 and sum(len(arithmetic[s]) for s in ("weak_train", "strong_train")) == 24
    assert all(p.capability is None and p.gold.isdigit() for split in arithmetic.values() for p in split)
