"""The GPU smoke command's driver on CPU: one line per part, PASS / FAIL / SKIP with the reason, exit
status 1 on a failure and 2 without a GPU. The parts themselves are real code paths and run on a GPU
node (tests/test_gpu_smoke.py); here stand-in parts check the reporting, and the real parts' own skips
(too few GPUs, no model, no engines) are checked as they are."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import shell_env
from w2s_ray import smoke


def _passes(state):
    return "it works"


def _fails(state):
    raise RuntimeError("CUDA error: out of memory\n  (on the second line)")


def _skips(state):
    raise smoke.Skip("needs 2 GPUs, this node has 1")


def test_each_part_gets_one_line_and_a_failure_makes_the_exit_status_1():
    out = io.StringIO()
    outcomes = smoke.run_parts([("one", _passes), ("two", _fails), ("three", _skips), ("four", _passes)],
                               smoke.SmokeState(Path(".")), out=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["PASS", "one"], ["FAIL", "two"], ["SKIP", "three"],
                                                    ["PASS", "four"]]
    assert "RuntimeError: CUDA error: out of memory (on the second line)" in lines[1]
    assert "needs 2 GPUs, this node has 1" in lines[2]
    assert smoke.exit_code(outcomes) == 1
    assert smoke.exit_code(smoke.run_parts([("a", _passes), ("b", _skips)], smoke.SmokeState(Path(".")),
                                           out=io.StringIO())) == 0


def test_the_real_parts_skip_with_their_reason_where_they_cannot_run(tmp_path):
    out = io.StringIO()
    state = smoke.SmokeState(tmp_path, n_gpus=1, model_dir=str(tmp_path))
    parts = dict(smoke.PARTS)
    outcomes = smoke.run_parts([("vllm-tp2", parts["vllm-tp2"]), ("handoff", parts["handoff"])], state, out=out)
    assert [(o.status, o.detail) for o in outcomes] == [
        ("SKIP", "needs 2 GPUs, this node has 1"),
        ("SKIP", "no engines up to release (the vLLM parts did not run)")]
    no_model = smoke.run_parts([("zero2-train", parts["zero2-train"])], smoke.SmokeState(tmp_path), out=out)
    assert no_model[0].status == "SKIP" and "needs the tiny model" in no_model[0].detail
    assert list(parts) == ["cuda", "model", "vllm-tp1", "vllm-tp2", "handoff", "zero2-train", "serve"]


def test_without_a_gpu_the_smoke_says_why_in_one_line_and_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    assert smoke.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("w2s smoke: no CUDA device: torch.cuda.is_available() is False")
    assert "needs an NVIDIA driver >= 580" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the command on a machine without a GPU")
def test_the_command_and_the_job_entry_point_exit_2_here():
    env = shell_env()
    env.pop("RAY_ADDRESS", None)
    for command in ([sys.executable, "-m", "w2s_ray.smoke"], [sys.executable, "jobs/gpu_smoke.py"]):
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                              cwd=Path(__file__).parent.parent)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.strip().startswith("w2s smoke: no CUDA device: "), proc.stderr[-2000:]
