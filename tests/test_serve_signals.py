"""`w2s serve` stops cleanly on SIGTERM and SIGINT: exit 0, a message, no Ray process left."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import shell_env
from tests.serve_run import make_run
from w2s_ray.serve.commands import stop_on_signals


def test_sigint_stops_even_when_inherited_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a job started in a script's background
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGINT"):
            with stop_on_signals():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler interrupts this
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # restored afterwards
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_sigterm_to_w2s_serve_exits_0_and_leaves_no_ray_process(tmp_path):
    run = tmp_path / "run"
    make_run(run, "weak-model", "strong-model")  # nothing promoted: the server waits with Ray and Serve up
    env = shell_env(PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "w2s_ray.cli", "serve", str(run), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        for line in proc.stdout:
            if "nothing promoted" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=90)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out[-3000:]  # was -6: Ray's own SIGTERM handler aborted
    assert "SIGTERM received; stopping" in out and "w2s serve: stopped" in out
    deadline = time.time() + 30
    session = f"_{proc.pid}/"  # Ray's session directory ends with the driver's pid
    while time.time() < deadline:
        left = subprocess.run(["pgrep", "-f", session], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(1)
    assert not left, f"Ray processes of the stopped server still running: {left}"
