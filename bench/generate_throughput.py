"""Generation: our generate stage (Ray Data -> shared vLLM engine actors) vs. plain `vllm.LLM`, on the
same prompts, greedy, the same engine arguments. Prints the two figures separately:

  start-up      ours: the engine pool's start (actor, vLLM import, model load) as the stage measures it;
                plain: `import vllm` and `LLM(...)` in this process (torch already imported).
  steady state  generated tokens/s with the engine up. Ours: a second stage on the same engines (the
                run's engine cache hands them over), whole stage wall time (Ray Data, routing, answer
                extraction included); plain: `llm.generate` over all prompts at once.

    python bench/generate_throughput.py [--model world-student] [--n 256] [--shots 0] [--max-tokens 96]

Ratios are ours / plain, measured in one run (plain runs after Ray is shut down, alone on the CPUs,
with as many threads as our engine actor: one).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from w2s_ray.config import TeacherConfig
from w2s_ray.data.world import generate_world
from w2s_ray.generate.engine_pool import EngineCache
from w2s_ray.generate.stage import build_requests, generate
from w2s_ray.generate.vllm_engine import engine_env, engine_kwargs
from w2s_ray.models.load import resolve_model
from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

ENGINE_THREADS = 1


def ours(problems, teacher, model_dir, demos) -> dict:
    init_ray(num_cpus=os.cpu_count())
    cache = EngineCache()
    try:
        _, first = generate(problems, teacher, model_dir, "cpu", demo_pool=demos, engines=cache)
        _, again = generate(problems, teacher, model_dir, "cpu", demo_pool=demos, engines=cache)
    finally:
        cache.release()
        shutdown_ray()
    assert again.startup_seconds == 0.0, "the second stage did not get the first one's engines"
    return {"startup_s": first.startup_seconds, "first_stage_s": first.seconds, "steady_s": again.seconds,
            "tokens": again.generated_tokens}


def plain(requests, teacher, model_dir) -> dict:
    os.environ.update(engine_env("cpu"))  # as our engine actors run (before vLLM is imported)
    # The CPU threads our engine actor gets (Ray sets its OMP_NUM_THREADS from its 1 CPU): the
    # comparison is of the pipeline around the engine, not of thread counts. Set before torch's
    # first parallel region (nothing in this process has run one yet).
    torch.set_num_threads(ENGINE_THREADS)
    start = time.perf_counter()
    from vllm import LLM, SamplingParams  # in the start-up, as in an engine actor's

    llm = LLM(model=model_dir, **engine_kwargs(teacher, "cpu"))
    startup = time.perf_counter() - start
    params = [SamplingParams(**r["sampling_params"]) for r in requests]  # the stage's own, seeds included
    start = time.perf_counter()
    outs = llm.generate([r["prompt"] for r in requests], params, use_tqdm=False)
    return {"startup_s": startup, "steady_s": time.perf_counter() - start,
            "tokens": sum(len(o.outputs[0].token_ids) for o in outs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="world-student")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--shots", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    problems = [p.to_row() for p in generate_world(args.n, seed=7)]
    demos = [p.to_row() for p in generate_world(20, seed=8)]
    teacher = TeacherConfig(name="bench", model=args.model, role="strong", shots=args.shots, engine="vllm",
                            max_tokens=args.max_tokens, dtype="float32", max_model_len=1024,
                            batch_size=args.batch_size)
    model_dir = str(resolve_model(args.model))
    a = ours(problems, teacher, model_dir, demos)
    b = plain(build_requests(problems, teacher, demos), teacher, model_dir)
    result = {
        "prompts": args.n, "model": args.model,
        "ours": {k: round(v, 2) for k, v in a.items()}, "plain": {k: round(v, 2) for k, v in b.items()},
        "startup_ratio_ours_over_plain": round(a["startup_s"] / b["startup_s"], 2),
        "steady_tok_s": {"ours": round(a["tokens"] / a["steady_s"], 1), "plain": round(b["tokens"] / b["steady_s"], 1)},
        "steady_ratio_ours_over_plain": round((a["tokens"] / a["steady_s"]) / (b["tokens"] / b["steady_s"]), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
