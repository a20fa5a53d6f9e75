"""`ray job submit` against a head node started on 127.0.0.1 runs the same loop as `w2s run`; that
head's job API (the dashboard's, and its agent's) refuses a client without Ray's token."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import psutil

from tests.tiny_run import write_config
from w2s_ray.run.manifest import Manifest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")  # one head for the module: each start costs ~10-20 s here
def head_node():
    temp_dir = tempfile.mkdtemp(prefix="w2sray", dir="/tmp")  # short: Ray's unix sockets cap path length
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="token", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("RAY_ADDRESS", None)
    dashboard, agent = free_port(), free_port()
    subprocess.run([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={free_port()}",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2",
                    f"--temp-dir={temp_dir}", "--disable-usage-stats",
                    # Agents default to fixed ports (52365, ...) that another Ray on this machine (the
                    # test session's own) already holds; then no job agent ever registers.
                    f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={free_port()}",
                    f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                    f"--ray-client-server-port={free_port()}"], env=env, check=True, capture_output=True)
    try:
        yield f"http://127.0.0.1:{dashboard}", env, agent
    finally:
        stop_processes_of(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def stop_processes_of(temp_dir: str) -> None:
    """Stop one node started with `ray start --temp-dir`, by PID (`ray stop` would also stop every other
    Ray on the machine): the processes that name its temp dir or hold a file under it (its log files),
    and their children. The raylet's agents do not name it (their title is `ray::DashboardAgent`);
    left behind, the dashboard agent spun a core for two minutes looking for its raylet (48 s of CPU,
    measured in `make test`), and the Ray client server only names the GCS address."""
    mine = {p.pid: p for p in psutil.process_iter(["cmdline"]) if _belongs_to(p, temp_dir)}
    for proc in list(mine.values()):
        try:
            mine.update((child.pid, child) for child in proc.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    for proc in mine.values():
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    # The raylet, GCS and autoscaler monitor outlive SIGTERM by more than 10 s (measured): nothing
    # of this throwaway node needs a graceful stop.
    _, alive = psutil.wait_procs(list(mine.values()), timeout=2)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=5)
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if _belongs_to(p, temp_dir)]
    assert not left, f"processes of the node in {temp_dir} left running: {left}"


def _belongs_to(proc: psutil.Process, temp_dir: str) -> bool:
    if any(temp_dir in part for part in proc.info["cmdline"] or ()):
        return True
    try:
        return any(f.path.startswith(temp_dir) for f in proc.open_files())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def submit_job(address: str, env: dict, *entrypoint: str, runtime_env: dict | None = None):
    submit = [RAY, "job", "submit", "--address", address, "--working-dir", str(REPO)]
    if runtime_env:
        submit += ["--runtime-env-json", json.dumps(runtime_env)]
    submit += ["--", sys.executable, "jobs/run_loop.py", *entrypoint]
    deadline = time.time() + 150
    while True:  # the head's job agent comes up some seconds after `ray start` returns
        result = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=400)
        if "No available agent" not in result.stdout + result.stderr or time.time() > deadline:
            break
        time.sleep(3)
    return result


def test_ray_job_submit_runs_the_loop(tmp_path, tiny_models, head_node):
    """One job (a head node costs ~25 s here), as cluster/ sets it up: its runtime_env sets
    OMP_NUM_THREADS, which init_ray sets too (Ray refused that merge), and the config's run_dir is
    relative (it landed in the job's temporary working dir and was lost): it goes under W2S_SHARED_DIR."""
    address, env, _ = head_node
    shared = tmp_path / "shared"
    cfg = write_config(tmp_path / "job.yaml", Path("runs/job-run"), tiny_models, rounds=0, baselines=[])
    result = submit_job(address, env, str(cfg),
                        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "W2S_SHARED_DIR": str(shared)}})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "succeeded" in result.stdout
    assert f"{shared}/runs/job-run (W2S_SHARED_DIR)" in result.stdout
    run_dir = shared / "runs" / "job-run"
    report = json.loads((run_dir / "report.json").read_text())
    assert Manifest.load(run_dir).stages() == ["weak/weak/generate"] and report["rounds"] == []


def _post_job(port: int, path: str, job: dict, token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    deadline = time.time() + 60
    while True:  # the agent binds its port some seconds after `ray start` returns
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body=json.dumps(job), headers=headers)
            return conn.getresponse().status
        except ConnectionRefusedError:
            if time.time() > deadline:
                raise
            time.sleep(1)
        finally:
            conn.close()


def test_the_job_api_refuses_a_client_without_the_token(head_node, tmp_path):
    address, env, agent = head_node
    dashboard = int(address.rsplit(":", 1)[1])
    marker = tmp_path / "job-ran"
    job = {"entrypoint": f"touch {marker}"}
    for port, path in ((dashboard, "/api/jobs/"), (agent, "/api/job_agent/jobs/")):
        assert _post_job(port, path, job, None) == 401, path  # no token
        assert _post_job(port, path, job, "f" * 64) == 403, path  # a wrong one
    # The owner's client (the token in ~/.ray/auth_token) is let in by the same API.
    jobs = subprocess.run([sys.executable, "-c", "import sys; from ray.job_submission import JobSubmissionClient;"
                           "print(len(JobSubmissionClient(sys.argv[1]).list_jobs()))", address],
                          env=env, capture_output=True, text=True, timeout=120)
    assert jobs.returncode == 0, jobs.stderr[-2000:]
    time.sleep(2)
    assert not marker.exists()
