"""What a run's numbers depend on beside its config: library versions, the CPU, torch's kernels, threads.

One config gives one report on one machine (builds are bit-exact there); another machine of the same
kind may not, because float sums round differently with another thread count (ATen splits a
reduction by threads), another CPU kernel (torch dispatches AVX2 / AVX512 kernels by the CPU's
flags, oneDNN and MKL choose their own), or another library version. What the config can fix, it
fixes: the train workers' thread count (train.cpu_threads) and the built-in models' build threads.
The rest is recorded here, in the manifest at every open of the run and in report.json
(`environment`), so two reports that differ can be told apart by their environments.
"""
from __future__ import annotations

import os
import platform
from importlib import metadata

from w2s_ray.run.kernels import mkl_auto_branch, mkl_branch

PACKAGES = ("torch", "transformers", "vllm", "ray", "trl", "deepspeed", "peft", "datasets", "numpy")
# The flags that decide which kernels torch, oneDNN and MKL pick (a summary, not the whole list).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
CPU_IDS = {"cpu family": "family", "model": "model_number", "stepping": "stepping"}
# Environment variables that change threads or kernels where they are set (recorded as set or unset).
KERNEL_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA",
              "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "VLLM_CPU_OMP_THREADS_BIND",
              "VLLM_CPU_KVCACHE_SPACE", "W2S_CPU_KERNELS")


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    """Installed versions, read from the package metadata (nothing is imported); None: not installed."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            # vLLM's CPU wheel is published under another distribution name.
            versions[name] = _first_version((f"{name}-cpu",)) if name == "vllm" else None
    return versions


def _first_version(names) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def cpu_summary(cpuinfo: str | None = None) -> dict:
    """The CPU's model name and which of ISA_FLAGS it has, from /proc/cpuinfo (Linux); {} elsewhere."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return {"model": platform.processor() or None, "isa_flags": None}
    model, flags, ids = None, set(), {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key in CPU_IDS and CPU_IDS[key] not in ids:
            ids[CPU_IDS[key]] = value.strip()
    # A VM's model name is often generic ("Intel(R) Xeon(R) Processor"); family / model / stepping
    # tell the CPU's generation, by which MKL picks its code path.
    return {"model": model, "isa_flags": [f for f in ISA_FLAGS if f in flags], **ids}


def torch_summary() -> dict:
    """The kernels and threads torch chose in this process."""
    import torch

    capability = None
    cpu = getattr(torch.backends, "cpu", None)
    if cpu is not None and hasattr(cpu, "get_cpu_capability"):
        capability = cpu.get_cpu_capability()
    return {"cpu_capability": capability, "mkl_cbwr_branch": mkl_branch(), "mkl_auto_branch": mkl_auto_branch(),
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(), "mkl": torch.backends.mkl.is_available(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}


def environment() -> dict:
    """This process's environment, as the manifest and report.json record it."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "libc": "-".join(platform.libc_ver()), "cpu": cpu_summary(),
            "cores": cores, "cpu_count": os.cpu_count(),
            "packages": package_versions(), "torch": torch_summary(),
            "env": {name: os.environ.get(name) for name in KERNEL_ENV}}


def build_environment() -> dict:
    """What a model build's report records of where it was built (the weights' rounding depends on it)."""
    kernels = {k: v for k, v in torch_summary().items() if "threads" not in k}  # the build's own are recorded
    return {"cpu": cpu_summary(), "torch": kernels, "packages": package_versions(("torch", "transformers", "numpy"))}


def differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The dotted keys where two environments differ (what to look at when two reports do)."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}")
    return out
