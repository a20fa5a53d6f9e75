"""Atomic publishing of a model directory: complete or absent, never half-written."""
from __future__ import annotations

import pytest

from w2s_ray.train.publish import publish_dir
from w2s_ray.train.worker_runtime import drop_pickles


def write_model(name: str):
    def fill(staging):
        staging.mkdir()
        (staging / "model.safetensors").write_text(name)

    return fill


def test_the_directory_appears_complete_with_no_staging_left(tmp_path):
    out = publish_dir(tmp_path / "student", write_model("new"))
    assert (out / "model.safetensors").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["student"]


def test_a_failure_while_filling_leaves_nothing(tmp_path):
    def crash(staging):
        write_model("half")(staging)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publish_dir(tmp_path / "student", crash)
    assert list(tmp_path.iterdir()) == []


def test_finished_work_is_kept_unless_overwrite_is_asked(tmp_path):
    publish_dir(tmp_path / "student", write_model("old"))
    with pytest.raises(FileExistsError):
        publish_dir(tmp_path / "student", write_model("new"))
    assert (tmp_path / "student" / "model.safetensors").read_text() == "old"

    publish_dir(tmp_path / "student", write_model("new"), overwrite=True)
    assert (tmp_path / "student" / "model.safetensors").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["student"]


def test_a_failed_overwrite_keeps_the_old_model(tmp_path):
    publish_dir(tmp_path / "student", write_model("old"))

    def crash(staging):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        publish_dir(tmp_path / "student", crash, overwrite=True)
    assert (tmp_path / "student" / "model.safetensors").read_text() == "old"


def test_pickles_are_dropped_from_a_model_dir(tmp_path):
    for name in ("model.safetensors", "training_args.bin", "optimizer.pt", "config.json"):
        (tmp_path / name).write_text("x")
    drop_pickles(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
