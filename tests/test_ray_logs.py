"""RUN_DIR/logs/ray holds copies of the Ray logs that matter, made at each stage's end (failed ones
too), not a link into this node's /tmp/ray that dangles on a shared volume."""
from __future__ import annotations

import pytest

from tests.conftest import long_test
import yaml

from w2s_ray.run import ray_logs
from w2s_ray.run.manifest import Manifest, StageResult, run_stage
from w2s_ray.run.ray_logs import RayLogCopy, prepare_logs_dir


@pytest.fixture
def session_logs(tmp_path):
    logs = tmp_path / "tmp-ray" / "session_2026-01-01_00-00-00_1_2" / "logs"
    logs.mkdir(parents=True)
    (logs / "worker-aa-01000000-123.out").write_text("engine: loaded\n")
    (logs / "worker-aa-01000000-123.err").write_text("")  # most workers' stderr: empty, left out
    (logs / "raylet.out").write_text("worker 123 killed: out of memory\n")
    (logs / "gcs_server.out").write_text("not a stage's log\n")
    return logs


def test_a_sync_copies_the_logs_that_matter_as_real_files_and_only_what_changed(tmp_path, session_logs, monkeypatch):
    run_dir = tmp_path / "run"
    copy = RayLogCopy(run_dir, session_logs)
    written = copy.sync()
    dest = run_dir / "logs" / "ray" / "session_2026-01-01_00-00-00_1_2"
    assert sorted(p.name for p in written) == ["raylet.out", "worker-aa-01000000-123.out"]
    assert sorted(p.name for p in dest.iterdir()) == ["raylet.out", "worker-aa-01000000-123.out"]
    assert all(p.is_file() and not p.is_symlink() for p in dest.iterdir())
    assert (dest / "raylet.out").read_text() == "worker 123 killed: out of memory\n"
    assert copy.sync() == []  # nothing changed
    with open(session_logs / "worker-aa-01000000-123.out", "a") as f:
        f.write("x" * 100 + "\n")
    monkeypatch.setattr(ray_logs, "MAX_FILE_BYTES", 50)
    assert [p.name for p in copy.sync()] == ["worker-aa-01000000-123.out"]
    tail = (dest / "worker-aa-01000000-123.out").read_text()
    assert tail.startswith("[w2s: the first 66 bytes are left out") and tail.endswith("x" * 49 + "\n")


def test_a_failed_stage_copies_its_logs_too_and_an_old_link_is_replaced(tmp_path, session_logs):
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "logs" / "ray").symlink_to(tmp_path / "gone", target_is_directory=True)  # an old run's link
    prepare_logs_dir(run_dir)
    manifest = Manifest.create(run_dir, {}, "h")
    manifest.stage_end_hooks.append(RayLogCopy(run_dir, session_logs).sync)

    def body() -> StageResult:
        raise RuntimeError("the engine died")

    with pytest.raises(RuntimeError, match="the engine died"):
        run_stage(manifest, "gen", body)
    copied = run_dir / "logs" / "ray" / "session_2026-01-01_00-00-00_1_2" / "raylet.out"
    assert not (run_dir / "logs" / "ray").is_symlink() and copied.read_text().startswith("worker 123 killed")


@pytest.mark.slow
@long_test  # a tiny run (~30 s loaded); test_loop's tiny run checks real copies too
def test_a_run_copies_its_workers_output_at_each_stage_end(ray_local, tmp_path):
    from w2s_ray.config import load_config
    from w2s_ray.run.context import open_run

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "run_dir": str(tmp_path / "run"), "ray": {"device": "cpu"},
        "data": {"n_weak_train": 40, "n_strong_train": 10, "n_test_per_level": 2, "n_demos": 4},
        "weak": [{"name": "w", "model": "weak-a"}], "strong": {"name": "s", "model": "world-student"}}))
    ctx = open_run(load_config(config))

    @ray_local.remote(num_cpus=0)
    def say():
        print("w2s-logs-marker", flush=True)

    def body() -> StageResult:
        ray_local.get(say.remote())
        return StageResult(outputs={})

    run_stage(ctx.manifest, "probe", body)
    copies = list((ctx.run_dir / "logs" / "ray").glob("session_*/worker-*.out"))
    assert copies and all(p.is_file() and not p.is_symlink() for p in copies)
    assert any("w2s-logs-marker" in p.read_text() for p in copies)
    assert not (ctx.run_dir / "logs" / "ray").is_symlink()
