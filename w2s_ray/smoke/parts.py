"""The smoke's parts, in the order they run; each returns its line's detail, raises Skip (why it does
not apply on this node) or fails with the error a user would meet."""
from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable

from w2s_ray.smoke.report import Skip, SmokeState

PROBLEMS = 4
SAMPLES = 2
MAX_TOKENS = 8


def _on_a_gpu(fn, *args):
    """fn(*args) in a Ray task holding one GPU: on a cluster the driver usually sits on a CPU-only head."""
    import ray

    # max_calls 1: the worker exits with its CUDA context, which would hold memory the engines count on.
    task = ray.remote(num_gpus=1, num_cpus=0, max_retries=0, max_calls=1)(fn)
    return ray.get(task.remote(*args), timeout=300)


def _driver_version() -> str:
    try:
        import pynvml  # nvidia-ml-py, in the GPU image

        pynvml.nvmlInit()
        try:
            return str(pynvml.nvmlSystemGetDriverVersion())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - the version is for the reader; its absence fails nothing
        return "unknown"


def _gpu_facts() -> tuple[str | None, str]:
    """In a GPU task: cuda_check's problem (None when torch can use the GPU), and what the GPU is."""
    import torch

    from w2s_ray.raycluster.cuda_check import cuda_problem
    from w2s_ray.raycluster.gpu_handoff import node_name

    problem = cuda_problem()
    if problem:
        return problem, node_name()
    return None, (f"{torch.cuda.get_device_name(0)} on {node_name()}, torch {torch.__version__} "
                  f"(CUDA {torch.version.cuda}), driver {_driver_version()}")


def part_cuda(state: SmokeState) -> str:
    import ray

    # The most GPUs one node has: tensor parallel 2 packs its two ranks on one node.
    state.n_gpus = int(max((n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"]), default=0))
    problem, facts = _on_a_gpu(_gpu_facts)
    if problem:
        raise RuntimeError(f"on {facts}: {problem}")
    return f"{facts}; {state.n_gpus} GPU(s) on the largest node"


def _forward(model_dir: str) -> bool:
    """In a GPU task: one forward pass of the model on cuda:0; whether its logits are finite."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).to("cuda:0")
    ids = AutoTokenizer.from_pretrained(model_dir)("Question: 1 + 2\nAnswer:", return_tensors="pt").input_ids
    with torch.no_grad():
        return bool(torch.isfinite(model(ids.to("cuda:0")).logits).all())


def part_model(state: SmokeState) -> str:
    from w2s_ray.data.world import generate_world
    from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
    from w2s_ray.models.word_tokenizer import build_world_tokenizer

    # Head size 64 (every vLLM GPU attention backend takes it); 2 heads, 2 KV heads: TP 2 splits them.
    shape = TinyLlamaShape(hidden=128, layers=2, heads=2, head_dim=64)
    tokenizer = build_world_tokenizer()
    state.model_dir = str(save_model_dir(build_tiny_llama(tokenizer, shape, seed=0), tokenizer,
                                         state.work_dir / "model"))
    state.problems = [p.to_row() for p in generate_world(PROBLEMS, seed=0, levels=(1, 2))]
    if not _on_a_gpu(_forward, state.model_dir):
        raise RuntimeError("the forward pass on cuda:0 gave non-finite logits")
    return f"tiny model ({shape.hidden} hidden, {shape.layers} layers): forward on cuda:0, logits finite"


def _needs_model(state: SmokeState) -> None:
    if state.model_dir is None:
        raise Skip("needs the tiny model (part 'model' failed)")


def _generate(state: SmokeState, tensor_parallel: int) -> str:
    from w2s_ray.config import TeacherConfig
    from w2s_ray.generate.engine_pool import EngineCache
    from w2s_ray.generate.stage import generate

    _needs_model(state)
    if state.n_gpus < tensor_parallel:
        raise Skip(f"needs {tensor_parallel} GPUs, this node has {state.n_gpus}")
    state.engines = state.engines or EngineCache()
    # Eager: the smoke checks the stack, and CUDA graph capture would add most of a minute per engine.
    teacher = TeacherConfig(name=f"smoke-tp{tensor_parallel}", model=state.model_dir, engine="vllm",
                            n=SAMPLES, temperature=1.0, max_tokens=MAX_TOKENS, dtype="bfloat16",
                            max_model_len=256, enforce_eager=True, tensor_parallel_size=tensor_parallel)
    ds, stats = generate(state.problems, teacher, state.model_dir, "gpu", engines=state.engines)
    if stats.rows != PROBLEMS * SAMPLES or stats.generated_tokens < 1:
        raise RuntimeError(f"{stats.rows} rows and {stats.generated_tokens} tokens came back")
    return (f"{stats.rows} rows, {stats.generated_tokens} tokens through {state.engines.pool.spec.describe()} "
            f"on gpu in {stats.seconds:.1f} s")


def part_vllm_tp1(state: SmokeState) -> str:
    return _generate(state, 1)


def part_vllm_tp2(state: SmokeState) -> str:
    return _generate(state, 2)


def part_handoff(state: SmokeState) -> str:
    """The engines' release, with its check that their GPUs' memory is free (GpuStillHeldError if not)."""
    if state.engines is None or state.engines.pool is None:
        raise Skip("no engines up to release (the vLLM parts did not run)")
    what = state.engines.pool.spec.describe()
    start = time.perf_counter()
    state.engines.release()
    return f"{what} released, its GPU memory free in {time.perf_counter() - start:.1f} s"


def part_zero2_train(state: SmokeState) -> str:
    from w2s_ray.models.weak_teacher import training_examples
    from w2s_ray.data.world import generate_world
    from w2s_ray.train import TrainConfig
    from w2s_ray.train.objectives import train_objective

    _needs_model(state)
    workers = min(2, state.n_gpus)
    rows = [{"prompt": p, "completion": c} for p, c in training_examples(generate_world(16, seed=1))]
    config = TrainConfig(num_workers=workers, deepspeed="zero2", max_steps=2, per_device_batch_size=4,
                         max_length=128, logging="none", max_failures=0)
    result = train_objective(rows, state.model_dir, state.work_dir / "trained" / "model", config, device="gpu")
    steps, loss = result.metrics.get("steps"), result.metrics.get("final_train_loss")
    if not steps:
        raise RuntimeError(f"the train job reported no step: {result.metrics}")
    loss_text = f", loss {loss:.3f}" if loss is not None else ""
    return f"{steps} step(s) of ZeRO-2 on {workers} GPU worker(s) over NCCL{loss_text}"


def part_serve(state: SmokeState) -> str:
    from ray import serve

    from w2s_ray.config import ServeConfig, TeacherConfig
    from w2s_ray.raycluster.runtime import cluster_address
    from w2s_ray.serve.app import AppSpec, build_app

    _needs_model(state)
    teacher = TeacherConfig(name="smoke", model=state.model_dir, dtype="bfloat16", enforce_eager=True)
    spec = AppSpec(model_id="smoke", model_dir=state.model_dir, run_name="smoke", teacher=teacher,
                   serve=ServeConfig(max_model_len=256), device="gpu", embedded=cluster_address() is None)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(build_app(spec), name="w2s-smoke", route_prefix="/")
        body = json.dumps({"model": "smoke", "prompt": "Question: 1 + 2\nAnswer:", "max_tokens": MAX_TOKENS})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body.encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        text = answer["choices"][0]["text"]
    finally:
        # serve.shutdown() deletes every app: only on an embedded Ray this process owns.
        serve.shutdown() if spec.embedded else serve.delete("w2s-smoke")
    return f"one completion from ray.serve.llm on gpu: {text[:40]!r}"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PARTS: list[tuple[str, Callable[[SmokeState], str]]] = [
    ("cuda", part_cuda), ("model", part_model), ("vllm-tp1", part_vllm_tp1), ("vllm-tp2", part_vllm_tp2),
    ("handoff", part_handoff), ("zero2-train", part_zero2_train), ("serve", part_serve),
]
