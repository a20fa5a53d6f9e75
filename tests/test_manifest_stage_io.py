"""stage_io: a stage's parquet and checkpoint outputs are written atomically and verified on read."""
from __future__ import annotations

import os

import pytest

from w2s_ray.run.stage_io import (CorruptStageError, describe_checkpoint, read_stage, verify_checkpoint,
                              verify_output, write_stage)

ROWS = [{"problem_id": f"p{i}", "text": "x" * i, "level": i % 5 + 1, "gold": None} for i in range(50)]


def test_round_trip_and_record(tmp_path):
    record = write_stage(tmp_path / "s", ROWS)
    assert record["kind"] == "parquet" and record["rows"] == 50
    assert record["path"] == str(tmp_path / "s" / "data.parquet")
    assert record["bytes"] == os.path.getsize(record["path"]) and len(record["sha256"]) == 64
    assert read_stage(tmp_path / "s", record) == ROWS
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["data.parquet"]  # no temp file left behind


def test_same_rows_give_the_same_file_hash(tmp_path):
    assert write_stage(tmp_path / "a", ROWS)["sha256"] == write_stage(tmp_path / "b", ROWS)["sha256"]


def test_rows_with_different_keys_read_back_with_none(tmp_path):
    record = write_stage(tmp_path, [{"a": 1}, {"b": "x"}])
    assert read_stage(tmp_path, record) == [{"a": 1, "b": None}, {"a": None, "b": "x"}]


def test_empty_rows(tmp_path):
    record = write_stage(tmp_path, [])
    assert record["rows"] == 0 and read_stage(tmp_path, record) == []


def test_truncated_file_is_refused_with_path(tmp_path):
    record = write_stage(tmp_path, ROWS)
    with open(record["path"], "r+b") as f:
        f.truncate(record["bytes"] // 2)
    with pytest.raises(CorruptStageError, match=r"data\.parquet: truncated: \d+ bytes, recorded \d+"):
        read_stage(tmp_path, record)


def test_same_size_different_content_is_a_hash_mismatch(tmp_path):
    record = write_stage(tmp_path, ROWS)
    data = bytearray(open(record["path"], "rb").read())
    data[100] ^= 0xFF
    open(record["path"], "wb").write(bytes(data))
    with pytest.raises(CorruptStageError, match="sha256 mismatch"):
        read_stage(tmp_path, record)


def test_missing_file_and_wrong_row_count(tmp_path):
    record = write_stage(tmp_path / "s", ROWS)
    with pytest.raises(CorruptStageError, match="row count differs: 50 rows, recorded 49"):
        read_stage(tmp_path / "s", {**record, "rows": 49})
    os.remove(record["path"])
    with pytest.raises(CorruptStageError, match="missing"):
        read_stage(tmp_path / "s", record)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    record = write_stage(tmp_path, ROWS)

    def crash(*args):
        raise OSError("killed before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_stage(tmp_path, ROWS[:3])
    monkeypatch.undo()
    assert read_stage(tmp_path, record) == ROWS
    assert [p.name for p in tmp_path.iterdir()] == ["data.parquet"]


def _checkpoint(path, shards=("model.safetensors",)):
    path.mkdir()
    for i, name in enumerate(shards):
        (path / name).write_bytes(bytes([i]) * 1000)
    (path / "config.json").write_text("{}")
    return path


def test_checkpoint_verified_by_weights(tmp_path):
    ckpt = _checkpoint(tmp_path / "ckpt", ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"))
    record = describe_checkpoint(ckpt)
    assert record["kind"] == "checkpoint" and record["bytes"] == 2000 and len(record["files"]) == 2
    verify_output(record)
    (ckpt / "config.json").write_text('{"edited": 1}')  # not weights: not hashed
    verify_checkpoint(ckpt, record)
    (ckpt / "model-00002-of-00002.safetensors").write_bytes(b"\x07" * 1000)
    with pytest.raises(CorruptStageError, match="sha256 differs"):
        verify_checkpoint(ckpt, record)
    (ckpt / "model-00002-of-00002.safetensors").write_bytes(b"\x07" * 10)
    with pytest.raises(CorruptStageError, match="truncated"):
        verify_checkpoint(ckpt, record)
    (ckpt / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CorruptStageError, match="weight files differ"):
        verify_checkpoint(ckpt, record)


def test_checkpoint_without_weights_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorruptStageError, match="no .safetensors"):
        describe_checkpoint(tmp_path / "empty")
    with pytest.raises(CorruptStageError, match="missing"):
        verify_checkpoint(tmp_path / "gone", {"files": [], "bytes": 0, "sha256": ""})
