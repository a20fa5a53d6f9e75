"""Run directories: moved or copied runs resume, one writer at a time, leftovers of a killed attempt
are cleaned, and `resume --from` redoes a stage and what came after it."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from w2s_ray.run.manifest import Manifest, ManifestError, StageResult, run_stage
from w2s_ray.run.stage_io import write_stage


def _stage(manifest, key, inputs=None):
    def body():
        return StageResult(outputs={"rows": write_stage(manifest.run_dir / key, [{"x": 1}])}, rows_out=1)

    return run_stage(manifest, key, body, inputs=inputs)


def test_a_moved_run_directory_resumes_stages_that_took_its_checkpoints(tmp_path):
    run = tmp_path / "a" / "run"
    manifest = Manifest.create(run, {"name": "r"}, "h")
    first = _stage(manifest, "round_1/train")
    model = str(first.output("rows")["path"])  # an absolute path inside the run, as checkpoint_path gives
    _stage(manifest, "round_1/eval", inputs={"model": model})
    moved = tmp_path / "b" / "moved"
    shutil.copytree(run, moved)
    shutil.rmtree(tmp_path / "a")
    again = Manifest.create(moved, {"name": "r"}, "h")
    first = _stage(again, "round_1/train")
    assert first.resumed
    assert _stage(again, "round_1/eval", inputs={"model": str(first.output("rows")["path"])}).resumed
    assert again.record("round_1/eval")["inputs"] == {"model": "round_1/train/data.parquet"}


HOLDER = """
import sys, time
from w2s_ray.run.lock import lock_run_dir
lock_run_dir(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    from w2s_ray.run.lock import RunLockedError, lock_run_dir

    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            lock_run_dir(run)
        assert isinstance(RunLockedError("x"), ManifestError)  # the CLI's exit code 3, one line
    finally:
        holder.kill()
        holder.wait()
    lock_run_dir(run)  # a killed holder leaves no stale lock
    lock_run_dir(run)  # re-entrant in one process


def test_resume_cleans_leftovers_of_unfinished_stages_only(tmp_path):
    from w2s_ray.run.context import clean_leftovers

    manifest = Manifest.create(tmp_path / "run", {"name": "r"}, "h")
    _stage(manifest, "round_1/train")
    kept = manifest.run_dir / "round_1" / "train" / "model.tmp-keep"  # inside a complete stage: not ours to judge
    kept.mkdir()
    leftovers = [manifest.run_dir / "round_2" / "train" / "model.tmp-1a2b3c4d",
                 manifest.run_dir / "round_2" / "train" / ".ray_train"]
    for path in leftovers:
        (path / "inner").mkdir(parents=True)
    assert sorted(clean_leftovers(manifest)) == sorted(leftovers)
    assert not any(p.exists() for p in leftovers) and kept.exists()


def test_forget_from_drops_a_stage_and_everything_after_it(tmp_path):
    from w2s_ray.cli import build_parser

    manifest = Manifest.create(tmp_path / "run", {"name": "r"}, "h")
    for key in ("weak/generate", "round_1/select", "round_1/train", "round_1/eval"):
        _stage(manifest, key)
    assert manifest.forget_from("round_1/select") == ["round_1/select", "round_1/train", "round_1/eval"]
    assert Manifest.load(tmp_path / "run").stages() == ["weak/generate"]
    with pytest.raises(ManifestError, match="not complete"):
        manifest.forget_from("round_9/train")
    assert build_parser().parse_args(["resume", "r", "--from", "round_1/train"]).from_stage == "round_1/train"


def test_edited_data_under_the_same_path_is_not_served_stale_generations(tmp_path):
    from w2s_ray.config import RunConfig
    from w2s_ray.run.context import RunContext
    from w2s_ray.stages.steps import generate_and_score
    from w2s_ray.run.manifest import StageInputsChangedError

    config = RunConfig.model_validate({
        "run_dir": str(tmp_path / "run"), "weak": [{"name": "w", "model": "m"}], "strong": {"name": "s", "model": "m"},
        "data": {"source": "files", "train": "train.jsonl", "test": "test.jsonl"}})
    manifest = Manifest.create(config.run_dir, config.model_dump(mode="json"), config.config_hash())
    key = "weak/w/generate"
    manifest.complete(key, inputs={"model": "m", "data": "hash-before-edit"},
                      outputs={"rows": write_stage(manifest.run_dir / key, [{"x": 1}])})
    same = RunContext(config, manifest, "cpu", {}, {"data_hash": "hash-before-edit"})
    assert generate_and_score(same, key, config.weak[0], "m", []).resumed  # the data is an input...
    edited = RunContext(config, manifest, "cpu", {}, {"data_hash": "hash-after-edit"})
    with pytest.raises(StageInputsChangedError, match="data"):  # ...so an edit is seen
        generate_and_score(edited, key, config.weak[0], "m", [])
