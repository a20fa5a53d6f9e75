"""Promotion: latest.json only ever names a complete, verified snapshot, whatever crashes when."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from w2s_ray.run.manifest import Manifest
from w2s_ray.serve import promotion
from w2s_ray.serve.promotion import (PromotionError, check_servable, pointer_path, promote_latest, read_latest,
                                     verified_latest)
from w2s_ray.run.stage_io import describe_checkpoint, write_stage
from w2s_ray.train.publish import publish_dir


def _model(weights: bytes):
    def fill(staging: Path):
        staging.mkdir(parents=True)
        (staging / "config.json").write_text('{"model_type": "llama"}')
        (staging / "model.safetensors").write_bytes(weights)
        (staging / "tokenizer.json").write_text("{}")

    return fill


def _finish_round(manifest: Manifest, run_dir: Path, k: int, weights: bytes, evaluated: bool = True) -> None:
    model = publish_dir(run_dir / f"round_{k}" / "train" / "model", _model(weights), overwrite=True)
    manifest.complete(f"round_{k}/train", outputs={"model": describe_checkpoint(model)})
    if evaluated:
        rows = write_stage(run_dir / f"round_{k}" / "eval", [{"problem_id": "p1", "correct": True}])
        manifest.complete(f"round_{k}/eval", outputs={"rows": rows}, metrics={"accuracy": {"acc": 0.25 * k}})


@pytest.fixture
def run(tmp_path):
    run_dir = tmp_path / "run"
    return run_dir, Manifest.create(run_dir, {"name": "tiny"}, "hash")


def test_a_round_is_promoted_only_once_its_eval_is_recorded(run):
    run_dir, manifest = run
    assert promote_latest(run_dir) is None
    _finish_round(manifest, run_dir, 1, b"w1", evaluated=False)
    assert promote_latest(run_dir) is None and not pointer_path(run_dir).exists()

    rows = write_stage(run_dir / "round_1" / "eval", [{"problem_id": "p1"}])
    manifest.complete("round_1/eval", outputs={"rows": rows}, metrics={"accuracy": {"acc": 0.5}})
    latest = promote_latest(run_dir)
    assert (latest.round, latest.model_id, latest.accuracy) == (1, "tiny-round-1", 0.5)
    assert latest.path.startswith("serve/checkpoints/round-1-") and latest.source == "round_1/train/model"
    snapshot = latest.abs_path(run_dir)
    assert (snapshot / "model.safetensors").read_bytes() == b"w1"
    # Hard links: the snapshot costs no disk and shares the published files.
    assert (snapshot / "model.safetensors").stat().st_ino == \
        (run_dir / "round_1/train/model/model.safetensors").stat().st_ino
    assert verified_latest(run_dir) == latest == read_latest(run_dir)


def test_promotion_follows_the_newest_round_and_never_goes_back(run):
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"w1")
    _finish_round(manifest, run_dir, 2, b"w2")
    assert promote_latest(run_dir).model_id == "tiny-round-2"
    assert promote_latest(run_dir).model_id == "tiny-round-2"  # idempotent
    promotion.write_pointer(run_dir, read_latest(run_dir))
    assert read_latest(run_dir).round == 2


def test_stage2_is_promoted_after_the_last_round_under_its_own_id(run):
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"w1")
    _finish_round(manifest, run_dir, 2, b"w2")
    assert promote_latest(run_dir).model_id == "tiny-round-2"
    model = publish_dir(run_dir / "stage2" / "train" / "model", _model(b"s2"), overwrite=True)
    manifest.complete("stage2/train", outputs={"model": describe_checkpoint(model)})
    assert promote_latest(run_dir).model_id == "tiny-round-2"  # trained, not yet evaluated
    rows = write_stage(run_dir / "stage2" / "eval", [{"problem_id": "p1", "correct": True}])
    manifest.complete("stage2/eval", outputs={"rows": rows}, metrics={"accuracy": {"acc": 0.9}})
    latest = promote_latest(run_dir)
    assert (latest.model_id, latest.round, latest.accuracy) == ("tiny-stage2", 3, 0.9)
    assert latest.path.startswith("serve/checkpoints/stage2-") and latest.source == "stage2/train/model"
    assert (latest.abs_path(run_dir) / "model.safetensors").read_bytes() == b"s2"
    assert verified_latest(run_dir) == latest


def test_a_crash_while_replacing_the_pointer_leaves_the_previous_one(run, monkeypatch):
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"w1")
    before = promote_latest(run_dir)
    _finish_round(manifest, run_dir, 2, b"w2")

    def power_cut(src, dst):
        raise OSError("power cut during rename")

    monkeypatch.setattr(promotion.os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        promote_latest(run_dir)
    monkeypatch.undo()
    assert verified_latest(run_dir) == before
    assert [p.name for p in pointer_path(run_dir).parent.glob(".latest.json.*")] == []  # no temp left
    assert promote_latest(run_dir).model_id == "tiny-round-2"  # the next attempt completes it


def test_a_crash_while_snapshotting_never_leaves_a_partial_snapshot_named(run, monkeypatch):
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"w1")
    before = promote_latest(run_dir)
    _finish_round(manifest, run_dir, 2, b"w2")
    calls = []

    def link_then_die(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError("disk full")
        os.link(src, dst)

    monkeypatch.setattr(promotion, "_link_or_copy", link_then_die)
    with pytest.raises(OSError, match="disk full"):
        promote_latest(run_dir)
    monkeypatch.undo()
    assert read_latest(run_dir) == before
    snapshots = sorted(p.name for p in (run_dir / "serve" / "checkpoints").iterdir())
    assert snapshots == [Path(before.path).name]  # the half-copied one is neither named nor left
    assert promote_latest(run_dir).round == 2


def test_a_process_killed_mid_promotion_leaves_a_valid_pointer(run):
    """A real crash: no exception handler runs, the process just dies at the pointer rename."""
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"w1")
    before = promote_latest(run_dir)
    _finish_round(manifest, run_dir, 2, b"w2")
    script = textwrap.dedent(f"""
        import os
        from w2s_ray.serve import promotion
        promotion.os.replace = lambda src, dst: os._exit(9)
        promotion.promote_latest({str(run_dir)!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert verified_latest(run_dir) == before
    json.loads(pointer_path(run_dir).read_text())  # still whole JSON
    assert promote_latest(run_dir).round == 2


def test_a_checkpoint_without_weights_or_config_is_refused(run, tmp_path):
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"w1")
    before = promote_latest(run_dir)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    with pytest.raises(PromotionError, match="no \\*.safetensors weights"):
        check_servable(partial)
    (partial / "config.json").unlink()
    (partial / "model.safetensors").write_bytes(b"w")
    with pytest.raises(PromotionError, match="config.json is missing"):
        check_servable(partial)
    # A round whose recorded checkpoint lost its weights after the fact is not promoted either.
    _finish_round(manifest, run_dir, 2, b"w2")
    (run_dir / "round_2/train/model/model.safetensors").unlink()
    with pytest.raises(PromotionError, match="no \\*.safetensors weights"):
        promote_latest(run_dir)
    assert read_latest(run_dir) == before


def test_a_snapshot_changed_after_promotion_is_refused_by_the_server_check(run):
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"weights-1")
    latest = promote_latest(run_dir)
    weights = latest.abs_path(run_dir) / "model.safetensors"
    weights.unlink()  # a new inode: the loop's copy stays as it was
    weights.write_bytes(b"weights-X")
    with pytest.raises(PromotionError, match="sha256 differs"):
        verified_latest(run_dir)


def test_retraining_a_round_leaves_the_served_snapshot_untouched(run):
    run_dir, manifest = run
    _finish_round(manifest, run_dir, 1, b"w1")
    latest = promote_latest(run_dir)
    publish_dir(run_dir / "round_1/train/model", _model(b"retrained"), overwrite=True)
    assert (latest.abs_path(run_dir) / "model.safetensors").read_bytes() == b"w1"
    assert verified_latest(run_dir) == latest


def test_a_damaged_pointer_is_reported_by_name(run):
    run_dir, _ = run
    pointer_path(run_dir).parent.mkdir(parents=True)
    pointer_path(run_dir).write_text("{not json")
    with pytest.raises(PromotionError, match="latest.json: not valid JSON"):
        read_latest(run_dir)
    pointer_path(run_dir).write_text(json.dumps({"version": 1, "run": "tiny"}))
    with pytest.raises(PromotionError, match="missing"):
        read_latest(run_dir)
