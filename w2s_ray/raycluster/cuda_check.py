"""A GPU run that cannot use a GPU stops at start-up, in one line, instead of in its first stage.

Where torch sees no GPU (a driver older than its CUDA build needs, a container started without the
GPU, a CPU-only torch), vLLM and the trainers fail minutes later, deep in an actor, or Ray waits
forever for a GPU no node has. Checked where the GPU work runs: with an embedded Ray on this machine,
before Ray starts; on a cluster, whose driver usually sits on a CPU-only head (cluster/rayjob.yaml),
by one probe task on a GPU worker.
"""
from __future__ import annotations

# The oldest Linux driver each CUDA major runs on (NVIDIA's minor-version compatibility: any 13.x
# runtime on >= 580, any 12.x on >= 525.60.13). cluster/Dockerfile and the README quote the one
# requirements/gpu.lock's torch needs (tests/test_gpu_image.py keeps them equal).
MIN_DRIVER_BY_CUDA_MAJOR = {12: 525, 13: 580}
# How long the probe waits for a GPU on a cluster. Past it the GPUs are busy (another run, a
# replica) rather than unusable: the run goes on, and its stages wait for room as they do.
PROBE_TIMEOUT_S = 120.0


class GpuUnavailableError(RuntimeError):
    """ray.device is gpu (or auto found GPUs), and torch cannot use one where the work runs."""


def min_driver(cuda: str) -> int | None:
    """The oldest driver for a CUDA version such as "13.0"; None for one not in the table."""
    return MIN_DRIVER_BY_CUDA_MAJOR.get(int(cuda.split(".")[0]))


def cuda_problem() -> str | None:
    """None where this process's torch sees a CUDA device, else why not, in a phrase."""
    import torch

    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    need = min_driver(torch.version.cuda)
    driver = f"an NVIDIA driver >= {need}" if need else "a matching NVIDIA driver"
    return (f"torch.cuda.is_available() is False (torch {torch.__version__} is built for CUDA "
            f"{torch.version.cuda} and needs {driver}; `nvidia-smi` shows the node's, and the container "
            f"must be started with the GPU)")


def _refuse(where: str, problem: str) -> GpuUnavailableError:
    return GpuUnavailableError(f"ray.device is gpu, but {where}: {problem}; "
                               f"use ray.device: cpu (--set ray.device=cpu) to run on CPU")


def check_this_machine() -> None:
    """An embedded Ray's GPUs are this machine's: ask torch here, before Ray or a run directory."""
    problem = cuda_problem()
    if problem:
        raise _refuse("on this machine", problem)


def _probe() -> tuple[str, str | None]:
    import ray

    return ray.util.get_node_ip_address(), cuda_problem()


def check_cluster(ray, embedded: bool) -> None:
    """After init_ray, on a run whose device resolved to gpu: the cluster has a GPU, and torch can use
    it (here for an embedded Ray, else on a GPU worker, by one task that holds a GPU)."""
    gpus = ray.cluster_resources().get("GPU", 0)
    if gpus < 1:
        raise _refuse("the Ray cluster has no GPU", f"its resources are {_brief(ray.cluster_resources())}")
    if embedded:
        check_this_machine()
        return
    probe = ray.remote(num_gpus=1, num_cpus=0, max_retries=0)(_probe).remote()
    try:
        node, problem = ray.get(probe, timeout=PROBE_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        ray.cancel(probe, force=True)
        print(f"[run] GPU check skipped: no GPU of the cluster's {gpus:g} was free within "
              f"{PROBE_TIMEOUT_S:g} s", flush=True)
        return
    if problem:
        raise _refuse(f"on the cluster's GPU node {node}", problem)


def _brief(resources: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(resources.items()) if k in ("CPU", "GPU")) or "none"
