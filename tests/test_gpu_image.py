"""cluster/Dockerfile starts on a GPU node: a CUDA base of the CUDA that requirements/gpu.lock's torch is
built for, the variables the NVIDIA container toolkit reads, and the driver that CUDA needs said in the
image and the README, the same number the start-up check names (w2s_ray/raycluster/cuda_check.py).
Parsed, not built (no registry, no GPU here)."""
from __future__ import annotations

import re
from pathlib import Path

from w2s_ray.raycluster.cuda_check import min_driver

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "cluster" / "Dockerfile").read_text()


def lock_cuda() -> str:
    """torch's CUDA: the wheel pins nvidia-cuda-runtime of its build (13.0.96 for torch 2.13 cu130)."""
    (version,) = re.findall(r"^nvidia-cuda-runtime(?:-cu\d+)?==(\d+\.\d+)\.", (REPO / "requirements" / "gpu.lock").read_text(), re.M)
    return version


def env() -> dict[str, str]:
    """Every ENV key=value, continuation lines joined."""
    logical = DOCKERFILE.replace("\\\n", " ")
    return {key: value for block in re.findall(r"^ENV (.*)$", logical, re.M)
            for key, value in re.findall(r"(\w+)=(\S+)", block)}


def test_the_image_is_built_on_the_cuda_that_torch_is_built_for():
    (base,) = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    match = re.fullmatch(r"nvidia/cuda:(\d+\.\d+)\.\d+-(base|runtime)-ubuntu\d+\.\d+", base)
    assert match, base
    assert match[1] == lock_cuda() == "13.0"


def test_the_image_sets_what_the_nvidia_container_toolkit_reads():
    values = env()
    assert values["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert set(values["NVIDIA_DRIVER_CAPABILITIES"].split(",")) >= {"compute", "utility"}
    # Where the toolkit mounts the node's driver libraries (libcuda.so).
    assert {"/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"} <= set(values["LD_LIBRARY_PATH"].split(":"))


def test_the_driver_requirement_is_said_where_a_user_looks():
    need = min_driver(lock_cuda())
    assert need == 580
    assert f"driver >= {need}" in DOCKERFILE
    readme = (REPO / "README.md").read_text()
    gpu_section = readme[readme.index("## GPU cluster quickstart"):]
    assert f"NVIDIA driver >= {need}" in gpu_section and f"CUDA {lock_cuda()}" in gpu_section
