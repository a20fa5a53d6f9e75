"""The loop end to end on tiny models: a run, a run killed in its train stage and resumed (same
rows and selected data as the uninterrupted run), a truncated stage output refused, the report."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import shell_env
from tests.tiny_run import write_config
from w2s_ray.run.manifest import Manifest

pytestmark = pytest.mark.slow


def w2s(*args, **kw) -> subprocess.Popen:
    env = shell_env(PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "w2s_ray.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def finish(proc: subprocess.Popen, timeout=400) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def lineage(run_dir: Path) -> dict:
    m = Manifest.load(run_dir)
    # rows, selected-data hash and (eval stages) accuracy: the same seed must give the same of each
    return {key: (m.record(key)["rows_out"], m.record(key)["metrics"].get("sha256"),
                  m.record(key)["metrics"].get("accuracy")) for key in m.stages()}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, tiny_models):
    """One uninterrupted run: weak generation, strong generation, select, train, evaluate."""
    base = tmp_path_factory.mktemp("clean")
    run_dir = base / "run"
    out = finish(w2s("run", str(write_config(base / "run.yaml", run_dir, tiny_models, baselines=[]))))
    return run_dir, out


def test_a_run_writes_parquet_per_stage_a_manifest_and_a_report(clean_run):
    run_dir, out = clean_run
    m = Manifest.load(run_dir)
    assert m.stages() == ["weak/weak/generate", "stage1/demos", "round_1/generate_strong", "round_1/select",
                          "round_1/train", "round_1/eval"]
    assert len(m.record("stage1/demos")["metrics"]["ids"]) == 2  # strong.shots fixed demos, one set
    assert (run_dir / "round_1" / "train" / "model" / "model.safetensors").is_file()
    assert m.record("round_1/select")["rows_out"] == 24  # take_all: one row per weak solution
    assert m.record("round_1/train")["metrics"]["tokens_per_second"] > 0
    report = json.loads((run_dir / "report.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [1] and report["rounds"][0]["selected_rows"] == 24
    assert set(report["baselines"]) >= {"weak", "strong_base", "ceiling", "full_weak_ft"}
    assert (run_dir / "report.png").stat().st_size > 1000 and "round 1" in out
    # worker_logs: files, the default: the console has each long stage's progress (its last line at
    # least), and RUN_DIR/logs/ray real copies of the workers' output, not a link into /tmp/ray.
    for stage in ("generate weak: ", "score round_1/generate_strong: ", "train round_1/train: "):
        assert f"[progress] {stage}" in out, stage
    logs = run_dir / "logs" / "ray"
    assert not logs.is_symlink() and any(p.is_file() and not p.is_symlink() for p in logs.glob("session_*/worker-*"))


def test_killed_in_train_then_resumed_equals_uninterrupted(tmp_path, clean_run):
    """The clean run's copy redoes its train stage (`w2s resume --from`, which spares the suite the
    generate stages again), is killed inside it, and is resumed: the same rows, data and accuracy."""
    clean_dir, crash_dir = clean_run[0], tmp_path / "crash"
    shutil.copytree(clean_dir, crash_dir)
    proc = w2s("resume", str(crash_dir), "--from", "round_1/train")
    out: list[str] = []
    for line in proc.stdout:  # the driver prints each stage as it starts it
        out.append(line)
        if "[w2s] round_1/train:" in line:
            break
    time.sleep(5)  # inside the train stage: Ray Train is starting or training
    assert proc.poll() is None, "the run ended before it could be killed in its train stage:\n" + "".join(out[-40:])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not Manifest.load(crash_dir).is_complete("round_1/train")

    finish(w2s("resume", str(crash_dir)))
    assert lineage(crash_dir) == lineage(clean_dir)


def test_truncated_stage_output_is_refused_on_resume(tmp_path, clean_run):
    run_dir = tmp_path / "copy"
    shutil.copytree(clean_run[0], run_dir)
    data = sorted((run_dir / "round_1" / "select" / "rows").glob("*.parquet"))[0]  # written by Ray Data's workers
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    proc = w2s("resume", str(run_dir))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 3, out[-3000:]
    assert "round_1/select" in out and data.name in out and "Traceback" not in out


def test_compare_tables_two_runs(tmp_path, clean_run):
    other = tmp_path / "other"
    shutil.copytree(clean_run[0], other)
    out = finish(w2s("compare", str(clean_run[0]), str(other), "--out", str(tmp_path / "cmp")), timeout=120)
    table = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    rows = [(r["model"], r["share_kept"]) for r in table["rows"]]
    # take_all keeps every weak solution; gold judges them afterwards, for the report only
    assert rows == [("stage I round 1", 1.0)] * 2
    kept_right = table["rows"][0]["kept_correct"]
    assert 0.0 <= kept_right <= 1.0 and "stage I round 1" in out and "kept right %" in out
