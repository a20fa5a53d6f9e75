"""`w2s run CONFIG --serve` end to end: the server starts before the loop, serves round 1 as soon as its
eval promotes it while round 2 still runs on Ray Data, swaps to round 2, keeps serving after the loop
and stops cleanly on Ctrl-C (SIGINT)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pytest
import yaml

from tests.conftest import long_test, shell_env
from tests.tiny_run import write_config

# ~200-300 s on 2 cores, over make test's share: the round-2 loop is test_w2s_rounds.py's, serving and
# swapping test_serve_app.py's (make test-long runs this one).
pytestmark = [pytest.mark.slow, long_test]


# `w2s` as a terminal starts it: Ctrl-C raises KeyboardInterrupt. Run from a background job of a shell
# without job control (how CI may run `make test`), this test would inherit SIGINT ignored, and so
# would the child; Python then installs no Ctrl-C handler at all.
AS_FROM_A_TERMINAL = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                      "sys.argv[0] = 'w2s'; runpy.run_module('w2s_ray.cli', run_name='__main__')")


def _lines_until(proc: subprocess.Popen, pattern: str, out: list[str], timeout: float) -> re.Match:
    """Read the process's output into `out` until a line matches; the match, or fail with the tail."""
    found: list[re.Match] = []

    def reader():
        for line in proc.stdout:
            out.append(line)
            match = re.search(pattern, line)
            if match:
                found.append(match)
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    assert found, f"no line matching {pattern!r} in {timeout} s (exit {proc.poll()}):\n" + "".join(out[-60:])
    return found[0]


def test_run_with_serve_serves_each_round_as_it_is_promoted(tmp_path, tiny_models):
    from openai import OpenAI

    run_dir = tmp_path / "run"
    path = write_config(tmp_path / "run.yaml", run_dir, tiny_models, rounds=2, baselines=[])
    config = yaml.safe_load(path.read_text())
    config["serve"] = {"port": 0, "poll_seconds": 0.5, "max_model_len": 256}
    path.write_text(yaml.safe_dump(config))

    env = shell_env(PYTHONUNBUFFERED="1")
    env.pop("W2S_SERVE_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-c", AS_FROM_A_TERMINAL, "run", str(path), "--serve"], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    try:
        announce = _lines_until(proc, r"^serving (\S+) at (http://127\.0\.0\.1:\d+/v1)", out, timeout=600)
        model_id, url = announce.group(1), announce.group(2)
        log = "".join(out)
        assert model_id == "tiny-round-2"
        # round 1 went live while the loop was still running, then the server swapped to round 2
        live_1 = log.index("tiny-round-1 is live")
        assert live_1 < log.index("swapping to tiny-round-2") < log.index("tiny-round-2 is live")
        assert "round 2" in log  # the loop finished and printed its report before serving on
        # ray.worker_logs "files" (the default) holds with the server too: replicas log to Ray's files
        assert "replica and engine logs: " in log and "ServeReplica" not in log and "EngineCore" not in log

        client = OpenAI(base_url=url, api_key="unused", timeout=120)
        assert "tiny-round-2" in [m.id for m in client.models.list().data]
        completion = client.completions.create(
            model="tiny-round-2", max_tokens=16, temperature=0,
            prompt="Question: Mia has 3 apples. She gets 4 more apples. How many apples does Mia have now?\nAnswer:")
        assert completion.model == "tiny-round-2" and completion.choices[0].text.strip()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: stop serving, shut Serve and Ray down
        try:
            rest, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate()
    assert proc.returncode == 0, ("".join(out) + rest)[-4000:]
    assert "stopping" in rest and "Traceback" not in rest, rest[-4000:]
