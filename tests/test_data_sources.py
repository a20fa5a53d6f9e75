"""load_splits on files: duplicates counted, conflicting gold reported, train/test overlap refused,
and what loading found reaches the manifest and the report."""
from __future__ import annotations

import json

import pytest

from w2s_ray.config import DataConfig
from w2s_ray.data.schema import InputError
from w2s_ray.data.sources import load_splits


def _rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _problem(i, gold=None, **extra):
    return {"question": f"What is {i} + {i}?", "gold": str(2 * i if gold is None else gold), "level": 1, **extra}


def _config(tmp_path, train, test, quarantine=False):
    return DataConfig(source="files", train=_rows(tmp_path / "train.jsonl", train),
                      test=_rows(tmp_path / "test.jsonl", test),
                      quarantine_dir=str(tmp_path / "q") if quarantine else None)


def test_duplicates_are_counted_and_conflicting_gold_quarantined(tmp_path):
    train = [_problem(i) for i in range(40)] + [_problem(1), _problem(2, gold=99)]
    test = [_problem(100), _problem(100)]
    with pytest.raises(InputError, match="conflicting gold") as info:
        load_splits(_config(tmp_path, train, test))
    assert info.value.path.endswith("train.jsonl") and info.value.line == 42
    splits, stats = load_splits(_config(tmp_path, train, test, quarantine=True))
    assert stats["duplicates"] == {"train": 1, "test": 1} and stats["quarantined"] == {"train": 1, "test": 0}
    assert len(splits["test"]) == 1 and sum(len(splits[k]) for k in ("weak_train", "strong_train")) == 40


def test_a_test_question_in_the_training_file_is_refused(tmp_path):
    train = [_problem(i) for i in range(40)]
    with pytest.raises(InputError, match="also training questions") as info:
        load_splits(_config(tmp_path, train, [_problem(100), _problem(7)]))
    assert info.value.path.endswith("test.jsonl") and info.value.field == "question"


def test_quarantine_counts_and_content_hash_are_in_the_stats(tmp_path):
    config = _config(tmp_path, [_problem(i) for i in range(10)], [_problem(100)], quarantine=True)
    (tmp_path / "train.jsonl").write_text((tmp_path / "train.jsonl").read_text() + "{oops\n[1]\n")
    _, stats = load_splits(config)
    assert stats["quarantined"] == {"train": 2, "test": 0}
    before = stats["data_hash"]
    (tmp_path / "test.jsonl").write_text(json.dumps(_problem(100, gold=7)) + "\n")  # edited in place
    assert load_splits(config)[1]["data_hash"] != before


def test_data_stats_reach_the_manifest_and_the_report(tmp_path):
    from w2s_ray.eval.report import render_markdown
    from w2s_ray.run.manifest import Manifest

    _, stats = load_splits(_config(tmp_path, [_problem(i) for i in range(10)] + [_problem(1)], [_problem(100)]))
    manifest = Manifest.create(tmp_path / "run", {"name": "r"}, "h")
    manifest.note_data(stats)
    assert Manifest.load(tmp_path / "run").data()["duplicates"] == {"train": 1, "test": 0}
    report = {"run": "r", "baselines": {}, "rounds": [], "teachers": {}, "stage_seconds": {}, "throughput": {},
              "data": Manifest.load(tmp_path / "run").data()}
    text = render_markdown(report)
    assert "duplicate questions dropped {'train': 1, 'test': 0}" in text


def test_a_missing_data_file_fails_before_a_manifest_or_ray(tmp_path):
    import ray

    from w2s_ray.config import RunConfig
    from w2s_ray.run.context import open_run

    config = RunConfig.model_validate({
        "run_dir": str(tmp_path / "run"), "weak": [{"name": "w", "model": "m"}], "strong": {"name": "s", "model": "m"},
        "data": {"source": "files", "train": str(tmp_path / "missing.jsonl"),
                 "test": _rows(tmp_path / "test.jsonl", [_problem(1)])}})
    with pytest.raises(InputError, match="missing.jsonl: no such file"):
        open_run(config)
    assert not (tmp_path / "run" / "manifest.json").exists()
    assert not ray.is_initialized()
