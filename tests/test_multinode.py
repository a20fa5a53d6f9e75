"""A real multi-node Ray cluster on 127.0.0.1: a head and two worker nodes started with `ray start`.

The head has no CPUs, so every engine actor and Ray Data task lands on a worker node. The tiny config
goes in with `ray job submit`; once its first stage is recorded, one worker node is killed (its raylet,
by PID) and the job is stopped (Ray Data alone would finish it on the other node), the node is started
again, and the run is resumed by a second job. The finished run must have every stage
once, the row counts the config implies, and no problem twice in any stage's output.

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
        return self._start(f"--address=127.0.0.1:{self.gcs}", "--num-cpus=1", f"--resources={json.dumps({name: 1})}")

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


def scenario(config: str, run_dir: Path) -> int:
    """Inside the namespace: submit, kill worker node A once the first stage is recorded, restart it,
    resume. Returns the resume job's exit status; its output goes to stdout."""
    cluster = LocalCluster()
    try:
        cluster.start_head()
        worker_a = cluster.start_worker("node_a")
        cluster.start_worker("node_b")
        _wait_for_agent(cluster, time.time() + 90)
        _say("cluster up: head (0 CPUs), node A, node B")
        first = cluster.submit(config, wait=False, job_id="w2s-first")
        deadline = time.time() + 300
        while time.time() < deadline and first.poll() is None:
            if (run_dir / "manifest.json").exists() and Manifest.load(run_dir).stages():
                break  # mid-run: the first stage is recorded, the next one is running
            time.sleep(1)
        cluster.kill_node(worker_a)
        _say("killed node A after", Manifest.load(run_dir).stages())
        # Ray Data reschedules the lost node's work on node B, so the job would finish on its own (seen);
        # its driver dies here instead, as a driver on a lost head would, so the resume has work to do.
        subprocess.run([RAY, "job", "stop", "--address", f"http://127.0.0.1:{cluster.dashboard}", "w2s-first"],
                       env=cluster.env, capture_output=True, text=True, timeout=120)
        first_out, _ = first.communicate(timeout=400)
        _say("first job left", Manifest.load(run_dir).stages(), f"(exit {first.returncode}):", first_out[-800:])
        cluster.start_worker("node_a")
        _say("node A restarted")
        resumed = cluster.submit("--resume", str(run_dir))
        _say(f"resumed job ended ({resumed.returncode}):", resumed.stdout[-2000:], resumed.stderr[-1500:])
        return resumed.returncode
    finally:
        cluster.stop()


# ~95 s on 2 cores (three Ray nodes, two jobs): part of `make test`; `make test-multinode` runs it alone.
def test_submit_kill_a_worker_node_restart_resume_same_lineage(tmp_path, tiny_models):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode != 0:
        pytest.skip("needs a private network namespace (unshare -rn): a multi-node Ray binds every interface")
    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path / "job.yaml", run_dir, tiny_models, rounds=0, baselines=["weak"])
    inner = f"ip link set lo up && exec {sys.executable} {Path(__file__)} {cfg} {run_dir}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(["unshare", "-rn", "sh", "-c", inner], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=900)
    print(result.stdout[-6000:])  # the timeline, for -s
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert "killed node A after ['weak/weak/generate']" in result.stdout, result.stdout[-3000:]
    assert "first job left ['weak/weak/generate']" in result.stdout, result.stdout[-3000:]  # resume had work

    manifest = Manifest.load(run_dir)
    stages = manifest.stages()
    assert stages == ["weak/weak/generate", "baselines/weak/weak/eval"], stages
    expected = {"weak/weak/generate": 24, "baselines/weak/weak/eval": 15}  # strong_train; 3 per level x 5
    for key, rows in expected.items():
        record = manifest.record(key)
        assert (record["rows_in"], record["rows_out"]) == (rows, rows), (key, record)
        for output in record["outputs"].values():
            if str(output["path"]).endswith(".parquet"):
                ids = pq.read_table(output["path"], columns=["problem_id"]).column("problem_id").to_pylist()
                assert len(ids) == len(set(ids)) == rows, f"{key}: duplicates or losses"


if __name__ == "__main__":
    sys.exit(scenario(sys.argv[1], Path(sys.argv[2])))
