"""The GPU hand-off on a machine without a GPU (tests/test_gpu_handoff.py runs this in a process of its
own: its Ray declares one GPU, which the session's CPU Ray must not).

    python -m tests.gpu_handoff_standin HELD_READS:TIMEOUT_S ... [taken]

A stand-in engine takes the one GPU Ray has and starts a child process in a session of its own, as
vLLM's engine core is started; `EnginePool.shutdown` kills the engine as it kills a real one. The
stand-in reader says the GPU's memory is held while that child lives, with its pid, as NVML would,
and ends the child after HELD_READS reads (inf: never). `taken`: another actor holds the GPU instead. Prints a JSON line per hand-off (one Ray for
all): whether it succeeded, the reads, or its error.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

GIB = 1024 ** 3
PID_FILE = Path(tempfile.gettempdir()) / f"w2s-handoff-standin-{os.getpid()}.pid"
READS_FILE = PID_FILE.with_suffix(".reads")
HELD_READS = {"n": 0}  # set by main: how many probe reads see the core before it exits


def alive(pid: int) -> bool:
    """A zombie has let go of everything: it counts as gone."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def standin_read():
    """What NVML would say of the GPU: 9 of 10 GiB held by the child while it lives, else free. The
    child is the engine core that exits late: it is ended after the probe has seen it HELD_READS times."""
    from w2s_ray.raycluster.gpu_handoff import GpuMemory, node_name

    pid = int(PID_FILE.read_text())
    reads = READS_FILE.read_text() if READS_FILE.exists() else ""
    if len(reads) >= HELD_READS["n"] and alive(pid):
        os.kill(pid, 9)
    held = alive(pid)
    READS_FILE.write_text(reads + ("H" if held else "F"))
    return [GpuMemory(node_name(), "0", (1 if held else 10) * GIB, 10 * GIB,
                      ((pid, "standin-engine-core", 9 * GIB),) if held else ())]


class StandinEngine:
    """Holds the GPU resource, and leaves a process behind that outlives the actor's kill: started
    through an intermediate that exits (Ray's worker-exit clean-up ends the actor's own children)."""

    def __init__(self, hold_s: float):
        spawn = ("import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', "
                 f"'import time; time.sleep({hold_s})'], start_new_session=True, stdout=subprocess.DEVNULL, "
                 "stderr=subprocess.DEVNULL).pid)")
        pid = subprocess.run([sys.executable, "-c", spawn], capture_output=True, text=True, check=True).stdout
        PID_FILE.write_text(pid.strip())

    def ready(self) -> bool:
        return True


def start_ray():
    os.environ["RAY_AUTH_MODE"] = "token"
    import ray

    from w2s_ray.raycluster import gpu_handoff
    from w2s_ray.raycluster.runtime import init_ray

    ray.init = functools.partial(ray.init, num_gpus=1)  # the one GPU the stand-in and the probe share
    init_ray(num_cpus=2)
    gpu_handoff.read_gpu_memory = standin_read
    return ray


def handoff(ray, held_reads: float, timeout_s: float) -> dict:
    from w2s_ray.generate import engine_pool
    from w2s_ray.raycluster import gpu_handoff

    engine_pool.HANDOFF_TIMEOUT_S = timeout_s
    HELD_READS["n"] = held_reads
    engine = ray.remote(StandinEngine).options(num_gpus=1, num_cpus=0).remote(hold_s=600)
    ray.get(engine.ready.remote())
    pool = engine_pool.EnginePool.__new__(engine_pool.EnginePool)
    pool.spec = engine_pool.EngineSpec("standin", (), (), "gpu", replicas=1)
    pool.engines, pool.groups, pool.router = [engine], [], None
    child = int(PID_FILE.read_text())
    try:
        pool.shutdown()
        result = {"ok": True, "child": child, "child_alive_after": alive(child)}
    except gpu_handoff.GpuStillHeldError as err:
        result = {"ok": False, "child": child, "error": str(err)}
    finally:
        try:
            os.kill(child, 9)
        except OSError:
            pass
        PID_FILE.unlink(missing_ok=True)
    result["reads"] = READS_FILE.read_text() if READS_FILE.exists() else ""
    READS_FILE.unlink(missing_ok=True)
    return result


def taken(ray) -> dict:
    """Other work holds the GPU Ray would give the probe (a Serve replica, another run): not our leak."""
    from w2s_ray.raycluster import gpu_handoff

    holder = ray.remote(StandinEngine).options(num_gpus=1, num_cpus=0).remote(hold_s=0)
    ray.get(holder.ready.remote())
    try:
        return {"ok": True, "readings": len(gpu_handoff.wait_for_free_gpus(1, "1 x vLLM(other)", timeout_s=2))}
    except gpu_handoff.GpuStillHeldError as err:
        return {"ok": False, "error": str(err)}
    finally:
        ray.kill(holder)


if __name__ == "__main__":
    ray = start_ray()
    try:
        for arg in sys.argv[1:]:
            if arg == "taken":
                print("RESULT " + json.dumps(taken(ray)), flush=True)
                continue
            held, timeout = arg.split(":")
            print("RESULT " + json.dumps(handoff(ray, float(held), float(timeout))), flush=True)
    finally:
        ray.shutdown()
