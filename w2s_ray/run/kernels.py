"""CPU kernel pins (`ray.cpu_kernels`): the same float rounding on machines whose CPUs differ.

On CPU, torch picks its vectorised ATen kernels by the CPU's flags (AVX2 or AVX512) and MKL picks its
GEMM code path the same way, so one config builds and trains to other weights on another kind of CPU.
Measured on an AVX512 Xeon (2026-12-07, bench/cpu_kernels.py and README "The same report on another
machine"): the tiny student built to another sha256 with ATen held to AVX2 alone, and again with MKL's
path alone; oneDNN's ISA changed nothing (fp32 linear layers are MKL GEMMs). Both libraries take an
override from the environment, read at their first use, so a pin works when set before the first
tensor op:

- native: each library picks by this CPU (today's behaviour, the fastest); reports agree only
  between machines that pick the same kernels.
- avx2: ATen's AVX2 kernels and MKL's AVX2 path under its conditional numerical reproducibility,
  which MKL documents as one result on every CPU that runs that path (shown here on one machine, by
  these same variables, not yet on two).
- portable: ATen's scalar kernels and MKL's COMPATIBLE path, on any x86-64 CPU; the slowest.

What a pin cannot reach: vLLM's own C++ kernels (its wheel's), DeepSpeed's CPU ops (JIT-built for the
machine), and the rounding of another thread count (`train.cpu_threads` and the builds' fixed threads
handle that) or another library version; the manifest records those.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

PIN_VAR = "W2S_CPU_KERNELS"  # the pin this process and its workers run under (the cache key reads it)
KERNEL_PINS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "portable": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}
# Every variable a pin may set: a process that is to run unpinned has none of them.
PIN_VARIABLES = frozenset({PIN_VAR, *(k for env in KERNEL_PINS.values() for k in env)})
# What each pin makes torch report (torch.backends.cpu.get_cpu_capability) and MKL's branch code
# (mkl_cbwr_get(MKL_CBWR_BRANCH): 3 COMPATIBLE, 10 AVX2; 1 is "off", MKL's own dispatch).
EXPECTED = {"avx2": ("AVX2", 10), "portable": ("DEFAULT", 3)}
_MKL_CBWR_BRANCH = 1


class KernelPinError(RuntimeError):
    pass


def pin_env(name: str) -> dict[str, str]:
    """The environment a pin sets, W2S_CPU_KERNELS included; {} for native."""
    if name not in KERNEL_PINS:
        raise ValueError(f"cpu_kernels: {name!r} is not one of {sorted(KERNEL_PINS)}")
    return {**KERNEL_PINS[name], PIN_VAR: name} if KERNEL_PINS[name] else {}


def active_pin() -> str:
    """The pin this process runs under: native unless a run (or its driver) pinned one."""
    return os.environ.get(PIN_VAR) or "native"


def pin_kernels(name: str) -> dict[str, str]:
    """Pin this process's kernels (and so its children's, which inherit the environment). Refuses a
    value already set otherwise in the environment, and a torch that chose its kernels before the pin
    (a tensor op ran first): either way the run would not compute what its config says."""
    env = pin_env(name)
    clashes = {k: os.environ[k] for k, v in env.items() if os.environ.get(k) not in (None, v)}
    if clashes:
        raise KernelPinError(f"ray.cpu_kernels {name!r} sets {env}, but the environment already has {clashes}; "
                             "unset those or choose the pin that matches them")
    os.environ.update(env)
    check_pinned()
    return env


def check_pinned() -> None:
    """In a process that runs under a pin (a driver, a Ray worker: init_ray makes it every worker's
    setup hook), refuse kernels other than the pin's."""
    name = active_pin()
    if name == "native":
        return
    capability, branch = kernels_in_effect()
    want_capability, want_branch = EXPECTED[name]
    if capability != want_capability or branch not in (None, want_branch):
        raise KernelPinError(
            f"cpu_kernels {name!r}: this process runs torch kernels {capability} and MKL branch {branch}, "
            f"not {want_capability} / {want_branch}: torch chose its kernels before the pin was set. Set "
            f"{pin_env(name)} in the environment before starting.")


def kernels_in_effect() -> tuple[str | None, int | None]:
    """(ATen's CPU capability, MKL's CNR branch code) as this process runs them; None: not readable."""
    import torch

    cpu = getattr(torch.backends, "cpu", None)
    capability = cpu.get_cpu_capability() if cpu is not None and hasattr(cpu, "get_cpu_capability") else None
    return capability, mkl_branch()


def mkl_branch() -> int | None:
    """MKL's code-path branch as set (mkl_cbwr_get): 1 when no pin is set, MKL then picks by the CPU
    (mkl_auto_branch). None where torch links no MKL with that symbol (another build or platform)."""
    get = _mkl_function("mkl_serv_cbwr_get", [ctypes.c_int])
    return None if get is None else int(get(_MKL_CBWR_BRANCH))


def mkl_auto_branch() -> int | None:
    """The branch MKL picks for this CPU when not pinned (12 AVX512, 14 AVX512_E1, 10 AVX2, ...): two
    machines with other auto branches may round MKL's GEMMs otherwise."""
    get = _mkl_function("mkl_serv_cbwr_get_auto_branch", [])
    return None if get is None else int(get())


def _mkl_function(name: str, argtypes: list):
    import torch

    try:
        function = getattr(ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")), name)
    except (OSError, AttributeError):
        return None
    function.restype, function.argtypes = ctypes.c_int, argtypes
    return function
