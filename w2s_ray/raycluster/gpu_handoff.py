"""The GPU hand-off between stages, checked: after engines are released, the GPUs the next stage gets
report their memory free, or the stage stops naming the node and the process that still holds it.

`ray.kill` ends an engine's actor, and Ray then counts its GPU as free; but on GPU vLLM's engine core
is a child process that only Ray's worker-exit clean-up ends, and one that outlives its actor keeps
the weights and KV cache (90 % of the GPU by default) while the trainer is handed the same GPU and
fails with an out-of-memory error far from the cause. So, after a release: one probe task per GPU
the pool held, each asking Ray for a whole GPU (it starts once Ray has freed one, as the next stage's
workers would) and reading that GPU's memory with NVML until enough of it is free, within a bound.
NVML, not torch.cuda.mem_get_info: a CUDA context in the probe would itself hold memory.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

# A GPU counts as handed over when at least this share of its memory is free: an idle GPU shows a
# few MiB used, a leftover engine core most of it (vLLM's gpu_memory_utilization, 0.9 by default).
FREE_FRACTION = 0.9
# The longest a release waits: for Ray to free the GPUs (the actors' deaths) and their memory.
HANDOFF_TIMEOUT_S = 120.0
POLL_S = 1.0
# Beyond the probes' own deadline: their scheduling and the answer's way back.
_GET_SLACK_S = 30.0
GIB = 1024 ** 3


@dataclass(frozen=True)
class GpuMemory:
    """One GPU as a probe saw it. holders: (pid, process name, bytes) of the processes using it, as
    NVML reports them (in a container they may be the host's pids, or none)."""

    node: str
    gpu: str
    free_bytes: int
    total_bytes: int
    holders: tuple[tuple[int, str, int], ...] = ()

    def is_free(self, fraction: float = FREE_FRACTION) -> bool:
        return self.free_bytes >= fraction * self.total_bytes

    def describe(self) -> str:
        used = (self.total_bytes - self.free_bytes) / GIB
        who = ", ".join(f"pid {pid} ({name}, {size / GIB:.1f} GiB)" for pid, name, size in self.holders)
        return (f"GPU {self.gpu} on node {self.node} has {used:.1f} of {self.total_bytes / GIB:.1f} GiB in use; "
                f"held by {who or 'no process NVML can name here (another pid namespace)'}")


class GpuStillHeldError(RuntimeError):
    """A released stage's GPUs did not come free within the hand-off bound."""


def node_name() -> str:
    import ray

    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"


def _process_name(pid: int) -> str:
    try:
        import psutil

        return " ".join(psutil.Process(pid).cmdline()[:2]) or psutil.Process(pid).name()
    except Exception:  # noqa: BLE001 - gone, or in another pid namespace: the pid is what we have
        return "?"


def read_gpu_memory() -> list[GpuMemory]:
    """The memory of the GPUs Ray assigned to this task (NVML, else nvidia-smi)."""
    import ray

    ids = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
    try:
        return [_nvml_reading(gpu) for gpu in ids]
    except ImportError:
        return _nvidia_smi_readings(ids)


def _nvml_reading(gpu: str) -> GpuMemory:
    import pynvml  # nvidia-ml-py, a vLLM dependency (requirements/gpu.lock)

    pynvml.nvmlInit()
    try:
        # Ray's ids are NVML's indexes, or UUIDs where CUDA_VISIBLE_DEVICES named GPUs so.
        handle = (pynvml.nvmlDeviceGetHandleByUUID(gpu) if not gpu.isdigit()
                  else pynvml.nvmlDeviceGetHandleByIndex(int(gpu)))
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        holders = tuple((p.pid, _process_name(p.pid), p.usedGpuMemory or 0)
                        for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle))
        return GpuMemory(node_name(), gpu, int(memory.free), int(memory.total), holders)
    finally:
        pynvml.nvmlShutdown()


def _nvidia_smi(query: str, kind: str = "gpu") -> list[list[str]]:
    out = subprocess.run(["nvidia-smi", f"--query-{kind}={query}", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return [[cell.strip() for cell in line.split(",")] for line in out.splitlines() if line.strip()]


def _nvidia_smi_readings(ids: list[str]) -> list[GpuMemory]:
    gpus = {row[0]: row for row in _nvidia_smi("index,uuid,memory.free,memory.total")}
    apps = _nvidia_smi("gpu_uuid,pid,used_memory", kind="compute-apps")
    mib = 1024 ** 2
    readings = []
    for gpu in ids:
        index, uuid, free, total = next((row for row in gpus.values() if gpu in (row[0], row[1])), gpus[gpu])
        holders = tuple((int(pid), _process_name(int(pid)), int(used) * mib)
                        for app_uuid, pid, used in apps if app_uuid == uuid)
        readings.append(GpuMemory(node_name(), index, int(free) * mib, int(total) * mib, holders))
    return readings


def probe_until_free(read: Callable[[], list[GpuMemory]], fraction: float, deadline: float,
                     poll_s: float) -> list[GpuMemory]:
    """In the probe task: read until every GPU is free or the (wall-clock) deadline passes; the last
    reading either way."""
    while True:
        readings = read()
        if all(r.is_free(fraction) for r in readings) or time.time() >= deadline:
            return readings
        time.sleep(poll_s)


def wait_for_free_gpus(n_gpus: int, what: str, *, timeout_s: float = HANDOFF_TIMEOUT_S, poll_s: float = POLL_S,
                       fraction: float = FREE_FRACTION,
                       read: Callable[[], list[GpuMemory]] | None = None) -> list[GpuMemory]:
    """After `what` released `n_gpus` whole GPUs: wait until as many GPUs are Ray's to give and report
    their memory free; the readings. GpuStillHeldError when a GPU Ray gave still has its memory in use
    past `timeout_s`; a GPU Ray never gives (other work took it) is said in a line, not an error.
    `read`: how a probe reads its GPU; None: read_gpu_memory (a stand-in replaces it without a GPU)."""
    import ray

    read = read or read_gpu_memory
    deadline = time.time() + timeout_s
    probe = ray.remote(num_gpus=1, num_cpus=0, max_calls=1, max_retries=0)(probe_until_free)
    refs = [probe.remote(read, fraction, deadline, poll_s) for _ in range(n_gpus)]
    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s + min(_GET_SLACK_S, timeout_s))
    for ref in pending:
        ray.cancel(ref, force=True)
    if pending:  # other work (a Serve replica, another run) took the GPUs Ray freed: theirs to hold
        print(f"[generate] GPU hand-off after releasing {what}: {len(pending)} of {n_gpus} GPU(s) not checked, "
              f"none free within {timeout_s:g} s (`ray list actors --filter state=ALIVE` shows who holds them)",
              file=sys.stderr, flush=True)
    readings = [r for batch in ray.get(ready) for r in batch]
    held = [r for r in readings if not r.is_free(fraction)]
    if held:
        raise GpuStillHeldError(
            f"after releasing {what}, GPU memory was still in use {timeout_s:g} s later "
            f"(a GPU counts as free at {fraction:.0%} free): " + "; ".join(r.describe() for r in held)
            + ". The process is likely the engine's core, left behind by its killed actor: end it "
              "(kill PID on that node), or restart the node's Ray")
    return readings

