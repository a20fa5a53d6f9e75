"""requirements/gpu.lock: every package pinned, consistent with pyproject, and resolvable by pip for
Linux x86_64 / Python 3.11 (the GPU image). No GPU is needed: pip's resolver runs in dry-run mode,
which is what `pip install` would resolve (tests/gpu_lock_resolver.py)."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from tests import gpu_lock_resolver
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements" / "gpu.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")
# Published as an sdist only, so pip cannot resolve it for a foreign platform (--platform needs wheels).
# Its requirements, from deepspeed 0.19.8's own metadata, are checked against the lock instead.
SDIST_ONLY = {"deepspeed": ["einops", "hjson", "msgpack", "ninja", "numpy", "packaging>=20.0", "psutil",
                            "py-cpuinfo", "pydantic>=2.0.0", "torch>=2.0.0", "tqdm"]}
# Wheels for glibc <= 2.36, which the GPU image (cluster/Dockerfile: Ubuntu 24.04, glibc 2.39) runs;
# vLLM's llguidance needs >= 2.31. pip does not expand a manylinux_2_X tag to older ones, so every compatible tag is listed.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def lock_pins() -> dict[str, str]:
    pins = {}
    for number, line in enumerate(LOCK.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"gpu.lock line {number} is not name==version: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in pins, f"gpu.lock pins {name} twice"
        pins[name] = match[2]
    return pins


def test_every_line_is_an_exact_pin():
    pins = lock_pins()
    assert {"torch", "vllm", "ray", "transformers", "trl", "deepspeed"} <= set(pins)


def _satisfied(requirement: str, pins: dict[str, str], extras=("",)) -> str | None:
    """None when the lock satisfies `requirement`, else why not."""
    req = Requirement(requirement)
    if req.marker and not any(req.marker.evaluate({"extra": e, "python_version": "3.11",
                                                   "sys_platform": "linux", "platform_machine": "x86_64"})
                              for e in extras):
        return None
    name = canonicalize_name(req.name)
    if name not in pins:
        return f"{requirement}: not in gpu.lock"
    if not req.specifier.contains(pins[name], prereleases=True):
        return f"{requirement}: gpu.lock has {name}=={pins[name]}"
    return None


def test_pyproject_base_gpu_and_trackers_extras_agree_with_the_lock():
    """`pip install -e .[gpu,trackers]` must pick the lock's versions: e.g. vllm 0.33 needs torch 2.14
    while the base pins torch 2.13."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = lock_pins()
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["gpu"] + extras["trackers"]
    problems = [p for p in (_satisfied(r, pins) for r in wanted) if p]
    assert not problems, problems


def test_the_gpu_extra_is_ray_llm_but_for_its_vllm_pin():
    """ray[llm]==2.60.0 pins vllm 0.29; the image ships vllm 0.32 (what the tests run), so the extra lists
    ray[llm]'s other requirements, as Ray 2.60's own metadata has them, so that ray.serve.llm has them all."""
    from importlib.metadata import distribution

    ray = distribution("ray")
    assert ray.version == lock_pins()["ray"], "compared with another Ray's metadata"
    environment = {"python_version": "3.11", "sys_platform": "linux", "platform_machine": "x86_64"}
    llm = set()
    for line in ray.requires:
        req = Requirement(line)
        if req.marker and req.marker.evaluate({**environment, "extra": "llm"}) \
                and not req.marker.evaluate({**environment, "extra": ""}) and canonicalize_name(req.name) != "vllm":
            req.marker = None
            llm.add(str(req))
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    assert set(extra) - llm == {f"vllm=={lock_pins()['vllm']}"}
    assert llm - set(extra) == set()


def test_sdist_only_packages_requirements_are_in_the_lock():
    pins = lock_pins()
    problems = [p for reqs in SDIST_ONLY.values() for p in (_satisfied(r, pins) for r in reqs) if p]
    assert not problems, problems


def resolver_inputs() -> tuple[dict[str, str], list[str]]:
    """What pip resolves: every wheel of the lock, for the image's platforms."""
    return {n: v for n, v in lock_pins().items() if n not in SDIST_ONLY}, PLATFORMS


@pytest.mark.network
@pytest.mark.slow  # its wait on PyPI runs in the background from the start of the session (conftest)
def test_pip_resolves_the_lock_for_linux_x86_64():
    wheels, platforms = resolver_inputs()
    result = gpu_lock_resolver.outcome(wheels, platforms)
    if result.skipped:
        pytest.skip(result.skipped)
    assert result.returncode == 0, result.stderr[-4000:]
    installed = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"]
                 for i in json.loads(result.report.read_text())["install"]}
    # Closed: the resolver needed nothing the lock leaves out, and picked exactly the pinned versions.
    assert installed == wheels, {"extra": sorted(set(installed) - set(wheels)),
                                 "missing": sorted(set(wheels) - set(installed))}


def test_the_gpu_dockerfile_installs_exactly_the_lock():
    text = (REPO / "cluster" / "Dockerfile").read_text()
    # The lock is for Python 3.11: the image's `python` and `pip` are a 3.11 venv's.
    assert re.search(r"^RUN python3\.11 -m venv /opt/venv$", text, re.M)
    assert re.search(r"^ENV PATH=/opt/venv/bin:\$PATH$", text, re.M)
    # Continuation lines joined first: a greedy `.*` would stop each RUN at its first line.
    runs = " ".join(re.findall(r"^RUN (.*)$", text.replace("\\\n", " "), re.M))
    installs = [cmd.strip() for cmd in re.split(r"&&", runs) if "pip install" in cmd]
    assert any("--no-deps -r" in c and ("gpu.lock" in c or "wheels.lock" in c) for c in installs), installs
    assert any("deepspeed==" in c for c in installs) and any("-e ." in c for c in installs), installs
    for command in installs:  # nothing unpinned, nothing from outside the lock, no resolver
        assert "--no-deps" in command, command
        assert re.search(r"(-r \S+\.lock|gpu\.lock\)|-e \.)", command), command
