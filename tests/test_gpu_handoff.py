"""The GPU hand-off between stages: a released engine whose child process still holds the GPU's
memory past its actor's kill is waited for, within a bound, and past it the stage stops naming the
node and the pid. On CPU, in a Ray of its own that declares one GPU (tests/gpu_handoff_standin.py);
the reader is a stand-in for NVML, the kill, the probe tasks and the wait are the real ones."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import long_test, shell_env
from w2s_ray.raycluster.gpu_handoff import GIB, GpuMemory, GpuStillHeldError, probe_until_free

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def handoffs() -> list[dict]:
    """In one Ray: the core ends after 3 reads (bound 120 s); it never does (bound 3 s); other work
    holds the GPU (bound 2 s). Its stderr comes back as the last item."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.gpu_handoff_standin", "3:120", "inf:3", "taken"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=shell_env(),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:  # its Ray with it
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    results = [json.loads(line.removeprefix("RESULT ")) for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 3, out[-2000:] + err[-4000:]
    return [*results, err]


@long_test  # the fixture starts its own Ray (~30 s); the probe's logic is tested without it below
def test_a_release_waits_for_the_engine_core_left_behind_then_hands_the_gpu_over(handoffs):
    result = handoffs[0]
    assert result["ok"], result
    assert result["reads"].startswith("HHH") and result["reads"].endswith("F"), result["reads"]
    assert not result["child_alive_after"], "the wait returned while the stand-in core still held the GPU"


@long_test  # the fixture starts its own Ray (~30 s); the probe's logic is tested without it below
def test_a_gpu_still_held_past_the_bound_stops_naming_the_node_and_the_pid(handoffs):
    result = handoffs[1]
    assert not result["ok"], result
    assert set(result["reads"]) == {"H"}, result["reads"]
    error = result["error"]
    assert error.startswith("after releasing 1 x vLLM(standin), GPU memory was still in use 3 s later")
    assert f"held by pid {result['child']} (standin-engine-core, 9.0 GiB)" in error
    assert "GPU 0 on node " in error and "(127.0.0.1)" in error and "9.0 of 10.0 GiB in use" in error


@long_test  # the fixture starts its own Ray (~30 s); the probe's logic is tested without it below
def test_gpus_that_other_work_took_are_said_in_a_line_not_an_error(handoffs):
    assert handoffs[2] == {"ok": True, "readings": 0}
    assert ("GPU hand-off after releasing 1 x vLLM(other): 1 of 1 GPU(s) not checked, none free within 2 s"
            in handoffs[3])


def test_the_probe_reads_until_free_and_stops_at_its_deadline():
    """probe_until_free, without Ray: held for two reads then free; and a deadline already past."""
    reads = iter([5, 5, 10])

    def read():
        return [GpuMemory("n", "0", next(reads) * GIB, 10 * GIB)]

    assert probe_until_free(read, 0.9, deadline=float("inf"), poll_s=0)[0].free_bytes == 10 * GIB
    held = probe_until_free(lambda: [GpuMemory("n", "0", GIB, 10 * GIB, ((7, "x", 9 * GIB),))], 0.9, 0, 0)
    assert not held[0].is_free() and "pid 7 (x, 9.0 GiB)" in held[0].describe()
    assert issubclass(GpuStillHeldError, RuntimeError)
