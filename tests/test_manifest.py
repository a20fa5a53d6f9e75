"""Manifest: atomic writes, config guard, never-rewritten stages, and resume through run_stage."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from w2s_ray.run.manifest import (ConfigMismatchError, Manifest, ManifestError, StageAlreadyCompleteError,
                              StageInputsChangedError, StageResult, run_stage)
from w2s_ray.run.stage_io import CorruptStageError, describe_checkpoint, read_stage, write_stage

CONFIG = {"name": "demo", "teachers": [{"name": "weak"}]}


@pytest.fixture
def manifest(tmp_path):
    return Manifest.create(tmp_path / "run", CONFIG, "hash-a")


def test_create_writes_the_documented_layout(manifest):
    data = json.loads(manifest.path.read_text())
    assert data["version"] == 2 and data["config"] == CONFIG and data["config_hash"] == "hash-a"
    assert data["stages"] == {} and data["created"]


def test_same_config_resumes_other_config_is_refused(manifest):
    manifest.complete("round_1/generate", rows_out=3)
    again = Manifest.create(manifest.run_dir, CONFIG, "hash-a")
    assert again.stages() == ["round_1/generate"]
    with pytest.raises(ConfigMismatchError, match="hash-a.*hash-b"):
        Manifest.create(manifest.run_dir, {**CONFIG, "name": "other"}, "hash-b")


def test_complete_records_fields_in_order_and_reloads(manifest):
    manifest.complete("round_1/generate", rows_in=10, rows_out=10, metrics={"tok_s": np.float32(2.5)})
    manifest.complete("round_1/select", inputs={"weak": "abc"}, rows_in=10, rows_out=6,
                      dropped={"disagree": 2}, seconds=1.5)
    loaded = Manifest.load(manifest.run_dir)
    assert loaded.stages() == ["round_1/generate", "round_1/select"]
    record = loaded.record("round_1/select")
    assert record["status"] == "complete" and record["inputs"] == {"weak": "abc"}
    assert record["dropped"] == {"disagree": 2} and record["rows_out"] == 6
    assert record["started"] and record["finished"]
    assert loaded.record("round_1/generate")["metrics"] == {"tok_s": 2.5}  # numpy made plain JSON
    assert loaded.is_complete("round_1/select") and not loaded.is_complete("round_1/train")


def test_completing_twice_raises_and_keeps_the_first(manifest):
    manifest.complete("baselines/ceiling/train", rows_out=1)
    with pytest.raises(StageAlreadyCompleteError, match="never rewritten"):
        manifest.complete("baselines/ceiling/train", rows_out=2)
    assert Manifest.load(manifest.run_dir).record("baselines/ceiling/train")["rows_out"] == 1


def test_bad_record_is_refused_without_touching_the_file(manifest):
    before = manifest.path.read_bytes()
    with pytest.raises(TypeError, match="unknown stage record fields"):
        manifest.complete("s", rows=1)
    with pytest.raises(TypeError, match="must be JSON"):
        manifest.complete("s", metrics={"x": object()})
    with pytest.raises(ValueError, match="kind"):
        manifest.complete("s", outputs={"data": {"path": "x"}})
    assert manifest.path.read_bytes() == before and manifest.stages() == []


def test_crash_before_rename_leaves_the_old_manifest(manifest, monkeypatch):
    manifest.complete("round_1/generate")
    before = manifest.path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt("killed between temp write and rename")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        manifest.complete("round_1/score")
    monkeypatch.undo()
    assert manifest.path.read_bytes() == before
    assert not manifest.is_complete("round_1/score")  # memory matches disk
    assert Manifest.load(manifest.run_dir).stages() == ["round_1/generate"]
    assert sorted(p.name for p in manifest.run_dir.iterdir()) == ["manifest.json"]


def test_a_stray_temp_file_from_a_hard_kill_is_ignored(manifest):
    (manifest.run_dir / ".manifest.json.abc.tmp").write_text('{"version": 1, "stag')
    assert Manifest.load(manifest.run_dir).config_hash == "hash-a"


def test_damaged_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.json").write_text('{"version": 1, "sta')
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest.load(tmp_path)
    with pytest.raises(ManifestError, match="no manifest"):
        Manifest.load(tmp_path / "nowhere")


def _select_stage(manifest, rows, calls):
    def fn():
        calls.append(1)
        out = write_stage(manifest.run_dir / "round_1" / "select", rows)
        return StageResult(outputs={"sft": out}, rows_in=5, rows_out=len(rows), dropped={"disagree": 5 - len(rows)},
                           metrics={"kept": len(rows)})
    return fn


def test_run_stage_runs_once_then_resumes_from_the_record(manifest):
    rows, calls = [{"problem_id": "a", "completion": " 1"}], []
    first = run_stage(manifest, "round_1/select", _select_stage(manifest, rows, calls), inputs={"gen": "h1"})
    assert calls == [1] and not first.resumed and first.seconds is not None
    assert first.dropped == {"disagree": 4} and first.output_hashes()["sft"] == first.output("sft")["sha256"]

    resumed_manifest = Manifest.load(manifest.run_dir)  # as after a crash and restart
    again = run_stage(resumed_manifest, "round_1/select", _select_stage(resumed_manifest, rows, calls), inputs={"gen": "h1"})
    assert calls == [1] and again.resumed
    assert again.outputs == first.outputs and again.rows_out == first.rows_out
    assert read_stage(manifest.run_dir / "round_1" / "select", again.output("sft")) == rows

    # the next stage had not completed: it runs
    ran = run_stage(resumed_manifest, "round_1/train", lambda: StageResult(rows_in=1), inputs=again.output_hashes())
    assert not ran.resumed and resumed_manifest.stages() == ["round_1/select", "round_1/train"]


def test_failing_stage_records_nothing_and_reruns(manifest):
    def boom():
        raise RuntimeError("OOM")

    with pytest.raises(RuntimeError):
        run_stage(manifest, "round_1/train", boom)
    assert not manifest.is_complete("round_1/train")
    assert not run_stage(manifest, "round_1/train", StageResult).resumed


def test_truncated_output_of_a_complete_stage_names_stage_and_file(manifest):
    result = run_stage(manifest, "round_1/select", _select_stage(manifest, [{"x": i} for i in range(20)], []))
    path = result.output("sft")["path"]
    with open(path, "r+b") as f:
        f.truncate(10)
    with pytest.raises(CorruptStageError, match=r"stage 'round_1/select'.*output 'sft'.*data\.parquet: truncated"):
        run_stage(manifest, "round_1/select", _select_stage(manifest, [], []))


def test_changed_checkpoint_of_a_complete_stage_is_detected(manifest):
    ckpt = manifest.run_dir / "round_1" / "train" / "checkpoint"

    def train():
        ckpt.mkdir(parents=True)
        (ckpt / "model.safetensors").write_bytes(b"\x01" * 64)
        return StageResult(outputs={"checkpoint": describe_checkpoint(ckpt)})

    run_stage(manifest, "round_1/train", train)
    (ckpt / "model.safetensors").write_bytes(b"\x02" * 64)
    with pytest.raises(CorruptStageError, match=r"stage 'round_1/train'.*checkpoint.*weights sha256 differs"):
        run_stage(manifest, "round_1/train", train)


def test_complete_stage_with_changed_inputs_is_refused(manifest):
    run_stage(manifest, "round_1/select", _select_stage(manifest, [], []), inputs={"gen": "h1"})
    with pytest.raises(StageInputsChangedError, match=r"\['gen'\]"):
        run_stage(manifest, "round_1/select", _select_stage(manifest, [], []), inputs={"gen": "h2"})


def test_fn_must_return_a_stage_result(manifest):
    with pytest.raises(TypeError, match="StageResult"):
        run_stage(manifest, "s", lambda: {"rows_out": 1})
    assert not manifest.is_complete("s")


def test_moved_run_directory_still_resumes(manifest, tmp_path):
    run_stage(manifest, "round_1/select", _select_stage(manifest, [{"a": 1}], []))
    stored = json.loads(manifest.path.read_text())["stages"]["round_1/select"]["outputs"]["sft"]["path"]
    assert stored == "round_1/select/data.parquet"
    moved = tmp_path / "moved"
    shutil.move(manifest.run_dir, moved)
    calls = []
    result = run_stage(Manifest.load(moved), "round_1/select", _select_stage(manifest, [], calls))
    assert calls == [] and result.output("sft")["path"] == str(moved / "round_1/select/data.parquet")


def test_a_failed_stage_keeps_its_counts_until_it_completes(manifest):
    manifest.fail("stage2/pairs", "no pairs", rows_in=7, dropped={"low_confidence": 7})
    again = Manifest.load(manifest.run_dir)
    assert again.failures()["stage2/pairs"]["dropped"] == {"low_confidence": 7}
    assert not again.is_complete("stage2/pairs") and again.stages() == []
    again.complete("stage2/pairs", rows_in=7, rows_out=2)
    assert Manifest.load(manifest.run_dir).failures() == {}
