"""The embedded Ray requires Ray's token: another local user (no ~/.ray/auth_token) is refused by
its GCS, even when the shell that started w2s had RAY_AUTH_MODE=disabled; and it opens no dashboard
or job API at all (include_dashboard=False), so no port takes a job, and no port answers a GET without
the token (the agent's Prometheus exporter is off: RAY_enable_metrics_collection=0). (A head started with `ray start`
has a job API: tests/test_job_submit.py shows it refuses a client without the token.)"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SERVER = """
import sys
from w2s_ray.raycluster.runtime import init_ray, shutdown_ray
ray = init_ray(num_cpus=1)
print("ADDR", ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.readline()
shutdown_ray()
"""
CLIENT = """
import sys, ray
ray.init(address=sys.argv[1])
print("CONNECTED", flush=True)
"""


def _connect(address: str, env: dict) -> str:
    """CONNECTED, or REFUSED once the GCS has said so (the client would retry until its timeout)."""
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, address], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        for line in proc.stdout:
            if "CONNECTED" in line:
                return "CONNECTED"
            if "InvalidAuthToken" in line or "Unauthenticated" in line:
                return "REFUSED"
        return "EXITED"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def embedded():
    """(GCS address, driver process, environment without Ray auth settings) of an embedded Ray
    started by w2s in a shell that asked for no authentication."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env = dict(base, PYTHONPATH=str(ROOT), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               RAY_enable_metrics_collection="1", AUTOSCALER_METRIC_PORT="44217")
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        address = next(line.split()[1] for line in server.stdout if line.startswith("ADDR"))
        yield address, psutil.Process(server.pid), base
    finally:
        server.communicate("stop\n", timeout=60)


def test_a_client_without_the_token_is_refused(embedded):
    address, _, base = embedded
    client = dict(base, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")
    assert _connect(address, dict(client, RAY_AUTH_TOKEN="f" * 32)) == "REFUSED"  # any token but the owner's
    assert _connect(address, client) == "CONNECTED"  # the owner's token (~/.ray/auth_token)


def _http(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes] | None:
    """(status, body) of a request without any token, or None where the port does not speak HTTP."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=json.dumps(body) if body else None,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read(2000)
    except (OSError, http.client.HTTPException):  # gRPC ports close on or garble an HTTP/1.1 request
        return None
    finally:
        conn.close()


def _listening_ports(driver: psutil.Process) -> dict[int, str]:
    names = {p.pid: p.name() for p in [driver, *driver.children(recursive=True)]}
    return {c.laddr.port: names[c.pid] for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in names}


def test_no_port_of_the_embedded_ray_serves_a_dashboard_or_takes_a_job(embedded, tmp_path):
    _, driver, _ = embedded
    deadline = time.time() + 30
    # The agents bind their ports some seconds after ray.init returns.
    while "ray::RuntimeEnvAgent" not in (ports := _listening_ports(driver)).values() and time.time() < deadline:
        time.sleep(1)
    assert len(ports) >= 4 and 8265 not in ports, ports  # GCS, raylet, agents; not the dashboard's default
    marker = tmp_path / "job-ran"
    job = {"entrypoint": f"touch {marker}", "submission_id": "w2s-auth-probe"}
    answers = {}
    for port, name in sorted(ports.items()):
        version = _http(port, "GET", "/api/version")
        # The dashboard answers JSON naming the Ray version; the metrics exporter answers any GET
        # with Prometheus text (read-only), the runtime-env agent 401.
        assert version is None or b"ray_version" not in version[1], (port, name, version)
        for path in ("/api/jobs/", "/api/job_agent/jobs/"):  # the dashboard's and the agent's job API
            answer = _http(port, "POST", path, job)
            answers[(port, name, path)] = answer and answer[0]
            assert answer is None or answer[0] >= 400, (port, name, path, answer)
    time.sleep(2)
    assert not marker.exists()
    assert any(status is not None for status in answers.values()), answers  # some ports speak HTTP


# Three exporters answer GETs without the token unless init_ray closes them: the DashboardAgent's, the
# autoscaler monitor's (44217) and the dashboard head's (44227, a `python` process of the session serving
# ray_dashboard_api_* metrics). The last only when no other Ray on the machine holds 44227 first, so an
# open one shows in some runs only.
def test_no_port_of_the_embedded_ray_answers_a_get_without_the_token(embedded):
    _, driver, _ = embedded
    deadline = time.time() + 30
    while "ray::DashboardAgent" not in (ports := _listening_ports(driver)).values() and time.time() < deadline:
        time.sleep(1)
    time.sleep(3)  # the agent's modules (the metrics exporter among them) start after its first port
    ports = _listening_ports(driver)
    answered = {}
    for port, name in sorted(ports.items()):
        for path in ("/", "/metrics", "/api/version"):
            answer = _http(port, "GET", path)
            answered[(port, name, path)] = answer
            # an open Prometheus exporter answers 200 "# HELP python_gc_..."
            assert answer is None or answer[0] in (401, 403), (port, name, path, answer)
            assert answer is None or b"# HELP" not in answer[1], (port, name, path, answer)
    assert any(a is not None for a in answered.values()), answered  # the runtime-env agent: 401
