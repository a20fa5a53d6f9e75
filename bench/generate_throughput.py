"""Generation throughput: our generate stage (Ray Data + ray.data.llm + vLLM) vs. plain `vllm.LLM`.

    python bench/generate_throughput.py [--model smollm2-135m-instruct] [--n 64] [--shots 3]

Both sides get the same prompts (k-shot on demo-world questions), greedy, the same max_tokens.
Prints generated tokens/s for each side and their ratio, measured in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from w2s_ray.config import TeacherConfig
from w2s_ray.data.world import generate_world
from w2s_ray.generate.stage import build_requests, generate
from w2s_ray.models.load import resolve_model
from w2s_ray.runtime import init_ray, shutdown_ray


def plain_vllm(model_dir: str, requests: list[dict], teacher: TeacherConfig, eager: bool) -> tuple[int, float]:
    from vllm import LLM, SamplingParams

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    llm = LLM(model=model_dir, dtype=teacher.dtype, max_model_len=teacher.max_model_len, seed=0,
              enforce_eager=eager)
    params = SamplingParams(temperature=0.0, max_tokens=teacher.max_tokens, stop=list(teacher.stop))
    start = time.perf_counter()
    outs = llm.generate([r["prompt"] for r in requests], params)
    seconds = time.perf_counter() - start
    return sum(len(o.outputs[0].token_ids) for o in outs), seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (default on CPU: eager)")
    args = ap.parse_args()

    problems = [p.to_row() for p in generate_world(args.n, seed=7)]
    demos = [p.to_row() for p in generate_world(20, seed=8)]
    teacher = TeacherConfig(name="bench", model=args.model, role="strong", shots=args.shots,
                            max_tokens=args.max_tokens, dtype="bfloat16", max_model_len=1024,
                            enforce_eager=not args.compile)
    model_dir = str(resolve_model(args.model))
    init_ray(num_cpus=os.cpu_count())
    start = time.perf_counter()
    _, stats = generate(problems, teacher, model_dir, "cpu", demo_pool=demos)
    ours_wall = time.perf_counter() - start
    shutdown_ray()
    result = {"eager": not args.compile, "rows": stats.rows, "ours_tokens": stats.generated_tokens, "ours_seconds": round(ours_wall, 1),
              "ours_tok_s": round(stats.generated_tokens / ours_wall, 1)}
    if not args.skip_plain:
        requests = build_requests(problems, teacher, demos)
        t0 = time.perf_counter()
        tokens, gen_seconds = plain_vllm(model_dir, requests, teacher, not args.compile)
        plain_wall = time.perf_counter() - t0
        result.update({"plain_tokens": tokens, "plain_generate_seconds": round(gen_seconds, 1),
                       "plain_seconds_with_init": round(plain_wall, 1),
                       "plain_tok_s_with_init": round(tokens / plain_wall, 1),
                       "ratio_ours_over_plain_with_init": round((stats.generated_tokens / ours_wall) / (tokens / plain_wall), 3)})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
