"""The embedded Ray must listen on loopback only: an open Ray port is remote code execution."""
from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from tests.conftest import shell_env
from w2s_ray.raycluster.runtime import LOOPBACK, cluster_address

LOOPBACK_ADDRESSES = {LOOPBACK, "::1", "::ffff:127.0.0.1"}


def ray_listeners() -> list[tuple[str, int, str]]:
    """(address, port, process name) of every listening socket held by this process's children."""
    pids = {p.pid: p.name() for p in psutil.Process(os.getpid()).children(recursive=True)}
    pids[os.getpid()] = "driver"
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            found.append((conn.laddr.ip, conn.laddr.port, pids[conn.pid]))
    return found


@pytest.mark.slow
def test_embedded_ray_listens_on_loopback_only(ray_local):
    @ray_local.remote
    def ping():
        return "pong"

    assert ray_local.get(ping.remote()) == "pong"  # workers are up, so their servers are too
    listeners = ray_listeners()
    assert len(listeners) >= 3, f"expected Ray's GCS, raylet and workers to listen, saw {listeners}"
    exposed = [entry for entry in listeners if entry[0] not in LOOPBACK_ADDRESSES]
    assert not exposed, f"Ray processes listening beyond loopback: {exposed}"


def test_cluster_address_prefers_config_then_env(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert cluster_address(None) is None
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert cluster_address(None) == "ray://head:10001"
    assert cluster_address("10.0.0.1:6379") == "10.0.0.1:6379"


def test_ray_imported_before_init_ray_is_refused_by_name_not_after_a_failed_gcs_start():
    """Ray reads RAY_AUTH_MODE at its first import: imported earlier, a driver cannot talk to the token-auth
    embedded Ray, and ray.init would fail after ~30 s with "Failed to start GCS"."""
    code = "import ray\nfrom w2s_ray.raycluster.runtime import init_ray\ninit_ray(num_cpus=1)"
    env = shell_env()
    env.pop("RAY_AUTH_MODE", None)
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ray was imported before w2s_ray.raycluster.runtime.init_ray" in proc.stderr, proc.stderr[-2000:]
    assert "Failed to start GCS" not in proc.stderr
