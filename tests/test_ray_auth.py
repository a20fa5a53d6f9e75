"""The embedded Ray requires Ray's token: another local user (no ~/.ray/auth_token) is refused by
its GCS, even when the shell that started w2s had RAY_AUTH_MODE=disabled. (The dashboard and its
job API are not started at all: include_dashboard=False.)"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SERVER = """
import sys
from w2s_ray.runtime import init_ray, shutdown_ray
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


def test_a_client_without_the_token_is_refused(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env = dict(base, PYTHONPATH=str(ROOT), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        address = next(line.split()[1] for line in server.stdout if line.startswith("ADDR"))
        client = dict(base, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")
        assert _connect(address, dict(client, RAY_AUTH_TOKEN="f" * 32)) == "REFUSED"  # before: CONNECTED
        assert _connect(address, client) == "CONNECTED"  # the owner's token (~/.ray/auth_token)
    finally:
        server.communicate("stop\n", timeout=60)
