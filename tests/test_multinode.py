"""A real multi-node Ray cluster on 127.0.0.1: a head and two worker nodes started with `ray start`.

The head has no CPUs, so every engine actor and Ray Data task lands on a worker node. The tiny config
goes in with `ray job submit`; once its first stage is recorded and the second (the weak baseline's
eval, a generate stage) has begun writing its rows (a parquet file in its staging directory), the
job's driver is paused (SIGSTOP: the stage cannot be recorded, however short the write), one worker
node is killed (its raylet, by PID) and the job is stopped (Ray Data alone would finish it on the
other node), the node is started again, and the run is resumed by a second job. The finished run must
have every stage once, the first stage untouched (its `finished` time as before the kill), the row
counts the config implies, and no problem twice in any stage's output; the redone stage's files were
written by tasks on both worker nodes into the shared run directory (Ray Data spreads its write
tasks, 1 CPU each, over nodes with room: two CPUs a worker node leave room beside the scorer actor;
Ray's task list for the resume job says where each ran).

Ray joins a second node only with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER unset, and then binds its ports on
every interface (platform notes), which on a shared machine is remote code execution for anyone who
reaches them. So the cluster lives in a private network namespace (`unshare -rn`: only a loopback
interface), where "every interface" is loopback; the scenario runs in there as a script
(`python tests/test_multinode.py CONFIG RUN_DIR`), and the test checks what it left on disk.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import yaml

from tests.test_job_submit import RAY, REPO, free_port, stop_processes_of
from tests.tiny_run import write_config
from w2s_ray.run.manifest import Manifest

pytestmark = pytest.mark.slow


def _agent_ports() -> list[str]:
    # Fixed defaults (52365, ...) collide between nodes on one machine and with other Rays here.
    return [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]


class LocalCluster:
    def __init__(self):
        # "1": multi-node; safe only inside the private network namespace (module docstring).
        self.env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1", RAY_USAGE_STATS_ENABLED="0",
                        RAY_AUTH_MODE="token", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        self.env.pop("RAY_ADDRESS", None)
        self.temp_dirs: list[str] = []
        self.gcs = free_port()
        self.dashboard = free_port()

    def _start(self, *args: str) -> str:
        temp_dir = tempfile.mkdtemp(prefix="w2smn", dir="/tmp")  # short: Ray's socket paths are capped
        self.temp_dirs.append(temp_dir)
        subprocess.run([RAY, "start", "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}",
                        "--disable-usage-stats", *_agent_ports(), *args],
                       env=self.env, check=True, capture_output=True, timeout=120)
        return temp_dir

    def start_head(self) -> None:
        self._start("--head", f"--port={self.gcs}", "--num-cpus=0", "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={self.dashboard}", f"--ray-client-server-port={free_port()}")

    def start_worker(self, name: str) -> str:
        return self._start(f"--address=127.0.0.1:{self.gcs}", "--num-cpus=2", f"--resources={json.dumps({name: 1})}")

    def kill_node(self, temp_dir: str) -> None:
        """The node's raylet dies, as a lost machine's would; its workers go with it."""
        raylets = [p for p in psutil.process_iter(["cmdline", "name"])
                   if p.info["name"] == "raylet" and any(temp_dir in part for part in p.info["cmdline"] or ())]
        assert raylets, f"no raylet of {temp_dir}"
        for proc in raylets:
            proc.kill()
        psutil.wait_procs(raylets, timeout=10)
        stop_processes_of(temp_dir)

    def submit(self, *entrypoint: str, wait: bool = True, job_id: str | None = None):
        command = [RAY, "job", "submit", "--address", f"http://127.0.0.1:{self.dashboard}", "--working-dir",
                   str(REPO), *(["--submission-id", job_id] if job_id else []),
                   "--", sys.executable, "jobs/run_loop.py", *entrypoint]
        if not wait:
            return subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=400)

    def stop(self) -> None:
        for temp_dir in reversed(self.temp_dirs):  # by PID: `ray stop` would stop every Ray on this machine
            stop_processes_of(temp_dir)
            shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_agent(cluster: LocalCluster, deadline: float) -> None:
    """The head's job agent registers some seconds after `ray start` returns."""
    while time.time() < deadline:
        probe = subprocess.run([RAY, "job", "list", "--address", f"http://127.0.0.1:{cluster.dashboard}"],
                               env=cluster.env, capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return
        time.sleep(2)


def _say(*parts) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


FIRST_STAGE, WRITING_STAGE = "weak/weak/generate", "baselines/weak/weak/eval"


def _driver_of(config: str) -> psutil.Process:
    """The first job's driver: the entrypoint the head's job supervisor started (not `ray job submit`)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if config in cmd and any(part.endswith("jobs/run_loop.py") for part in cmd) and "submit" not in cmd:
            return proc
    raise AssertionError(f"no driver process running jobs/run_loop.py {config}")


def _staged_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / WRITING_STAGE).glob(".rows.staging-*/*.parquet"))


def _ray_list(cluster: LocalCluster, *args: str) -> list[dict]:
    result = subprocess.run([RAY, "list", *args, "--address", f"http://127.0.0.1:{cluster.dashboard}",
                             "--format", "json", "--detail", "--limit", "10000"],
                            env=cluster.env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def _write_tasks(cluster: LocalCluster, submission_id: str) -> list[dict]:
    """A job's Ray Data tasks that write files, each with the worker node it ran on (by its custom
    resource: a restarted node has a new id), from Ray's own task list."""
    job_id = next(j["job_id"] for j in _ray_list(cluster, "jobs") if j.get("submission_id") == submission_id)
    nodes = {n["node_id"]: next((r for r in ("node_a", "node_b") if r in n["resources_total"]), "head")
             for n in _ray_list(cluster, "nodes")}
    return [{"name": t["name"], "state": t["state"], "node": nodes.get(t["node_id"])}
            for t in _ray_list(cluster, "tasks", "--filter", f"job_id={job_id}") if "Write" in t["name"]]


def scenario(config: str, run_dir: Path) -> int:
    """Inside the namespace: submit; once the first stage is recorded and the second is writing its
    files, pause the driver, kill worker node A, stop the job, restart node A, resume. Returns the
    resume job's exit status; its output goes to stdout. Leaves the manifest as it was at the kill
    (manifest-at-kill.json) and the resume job's write tasks (write-tasks.json) beside run_dir."""
    cluster = LocalCluster()
    try:
        cluster.start_head()
        worker_a = cluster.start_worker("node_a")
        cluster.start_worker("node_b")
        _wait_for_agent(cluster, time.time() + 90)
        _say("cluster up: head (0 CPUs), node A, node B")
        first = cluster.submit(config, wait=False, job_id="w2s-first")
        deadline = time.time() + 400
        while time.time() < deadline and first.poll() is None and not _staged_files(run_dir):
            time.sleep(0.05)
        if not _staged_files(run_dir):
            raise AssertionError(f"no file of {WRITING_STAGE} seen staged before the first job ended "
                                 f"(exit {first.poll()}); recorded: {Manifest.load(run_dir).stages()}")
        # The stage is recorded only after its writer returns and the staging directory is renamed: a
        # driver paused now cannot record it, however short the write (a few tenths of a second here).
        driver = _driver_of(config)
        driver.suspend()
        staged = [f.name for f in _staged_files(run_dir)]
        shutil.copy(run_dir / "manifest.json", run_dir.parent / "manifest-at-kill.json")
        cluster.kill_node(worker_a)
        _say(f"killed node A while {WRITING_STAGE} wrote ({len(staged)} files staged), recorded:",
             Manifest.load(run_dir).stages())
        # Ray Data reschedules the lost node's work on node B, so the job would finish on its own (seen);
        # its driver dies here instead, as a driver on a lost head would, so the resume has work to do.
        subprocess.run([RAY, "job", "stop", "--address", f"http://127.0.0.1:{cluster.dashboard}", "w2s-first"],
                       env=cluster.env, capture_output=True, text=True, timeout=120)
        if driver.is_running():
            driver.kill()  # a stopped process's SIGTERM waits for a SIGCONT that never comes
        first_out, _ = first.communicate(timeout=400)
        _say("first job left", Manifest.load(run_dir).stages(), f"(exit {first.returncode}):", first_out[-800:])
        cluster.start_worker("node_a")
        _say("node A restarted")
        resumed = cluster.submit("--resume", str(run_dir), job_id="w2s-resume")
        _say(f"resumed job ended ({resumed.returncode}):", resumed.stdout[-2000:], resumed.stderr[-1500:])
        tasks = _write_tasks(cluster, "w2s-resume")
        (run_dir.parent / "write-tasks.json").write_text(json.dumps(tasks, indent=1))
        _say("resume job's write tasks:", tasks)
        return resumed.returncode
    finally:
        cluster.stop()


# ~95 s on 2 cores (three Ray nodes, two jobs): part of `make test`; `make test-multinode` runs it alone.
def test_submit_kill_a_worker_node_mid_write_resume_redoes_only_that_stage(tmp_path, tiny_models):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode != 0:
        pytest.skip("needs a private network namespace (unshare -rn): a multi-node Ray binds every interface")
    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path / "job.yaml", run_dir, tiny_models, rounds=0, baselines=["weak"])
    raw = yaml.safe_load(cfg.read_text())
    raw["data"]["n_test_per_level"] = 8  # the eval stage: 40 rows, in blocks of 4 (the weak batch size)
    # Blocks of 4 rows from the engine and the scorers (the run's default two, in one pool): ~10 write
    # tasks a stage, for both nodes to get some (a scorer call of 64 rows would make one block, one file).
    raw["weak"][0]["batch_size"] = 4
    raw["scorers"] = [{"name": name, "batch_size": 4} for name in ("answer_check", "step_check")]
    cfg.write_text(yaml.safe_dump(raw))
    inner = f"ip link set lo up && exec {sys.executable} {Path(__file__)} {cfg} {run_dir}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(["unshare", "-rn", "sh", "-c", inner], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=900)
    print(result.stdout[-6000:])  # the timeline, for -s
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert f"killed node A while {WRITING_STAGE} wrote" in result.stdout, result.stdout[-3000:]
    assert f"first job left ['{FIRST_STAGE}']" in result.stdout, result.stdout[-3000:]  # mid-write: unrecorded

    manifest = Manifest.load(run_dir)
    stages = manifest.stages()
    assert stages == [FIRST_STAGE, WRITING_STAGE], stages
    at_kill = json.loads((tmp_path / "manifest-at-kill.json").read_text())["stages"]
    assert set(at_kill) == {FIRST_STAGE}, sorted(at_kill)
    # The resume redid only the stage that was writing: the finished one is as it was recorded.
    now = json.loads((run_dir / "manifest.json").read_text())["stages"]
    for field in ("started", "finished", "outputs"):
        assert now[FIRST_STAGE][field] == at_kill[FIRST_STAGE][field], field
    expected = {FIRST_STAGE: 24, WRITING_STAGE: 40}  # strong_train; 8 per level x 5
    for key, rows in expected.items():
        record = manifest.record(key)
        assert (record["rows_in"], record["rows_out"]) == (rows, rows), (key, record)
        output = record["outputs"]["rows"]
        assert output["kind"] == "parquet_dataset", output["kind"]
        ids = [i for f in output["files"]
               for i in pq.read_table(Path(output["path"]) / f["name"], columns=["problem_id"])
               .column("problem_id").to_pylist()]
        assert len(ids) == len(set(ids)) == rows, f"{key}: duplicates or losses"
    assert not list((run_dir / WRITING_STAGE).glob(".rows.staging-*")), "the killed attempt's files were left"

    # The redone stage's files, written by tasks on both worker nodes into the one run directory.
    files = manifest.record(WRITING_STAGE)["outputs"]["rows"]["files"]
    tasks = [t for t in json.loads((tmp_path / "write-tasks.json").read_text()) if t["state"] == "FINISHED"]
    assert {t["node"] for t in tasks} == {"node_a", "node_b"}, tasks
    assert len(files) == len(tasks), (len(files), tasks)


if __name__ == "__main__":
    sys.exit(scenario(sys.argv[1], Path(sys.argv[2])))
