"""What a generate stage pays to start its vLLM engine, with and without the engine's model in a
process of its own (vLLM V1's default; our CPU engines set VLLM_ENABLE_V1_MULTIPROCESSING=0).

    python bench/engine_startup.py [--model world-student] [--n 16] [--repeats 2]

Each repeat runs our generate stage on the same n prompts once each way, alternating, in one Ray;
prints each stage's wall seconds (start-up dominates at this n) and the ratio of the means.
"""
from __future__ import annotations

import argparse
import statistics
import time

from w2s_ray.config import TeacherConfig
from w2s_ray.data.world import generate_world
from w2s_ray.generate import stage, vllm_engine
from w2s_ray.models.load import resolve_model
from w2s_ray.raycluster.runtime import init_ray, shutdown_ray


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="world-student")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    model = str(resolve_model(args.model))
    problems = [p.to_row() for p in generate_world(args.n, seed=3, levels=(1, 2))]
    teacher = TeacherConfig(name="bench", model=args.model, engine="vllm", max_tokens=64, max_model_len=1024, dtype="float32")
    ours = vllm_engine.engine_env

    def separate_process(device):  # vLLM's default: the model in a process of its own
        return {k: v for k, v in ours(device).items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}

    init_ray(num_cpus=2)
    seconds = {"in-process (ours)": [], "separate process (vLLM default)": []}
    try:
        for _ in range(args.repeats):
            for name, env in (("separate process (vLLM default)", separate_process), ("in-process (ours)", ours)):
                vllm_engine.engine_env = env
                start = time.perf_counter()
                _, stats = stage.generate(problems, teacher, model, "cpu")  # no engine cache: a start each
                seconds[name].append(time.perf_counter() - start)
                print(f"{name}: {stats.rows} rows in {seconds[name][-1]:.1f} s "
                      f"(engine start {stats.startup_seconds:.1f} s)", flush=True)
    finally:
        vllm_engine.engine_env = ours
        shutdown_ray()
    mean = {k: statistics.mean(v) for k, v in seconds.items()}
    print(f"mean stage seconds: {mean}; ours / default = {mean['in-process (ours)'] / mean['separate process (vLLM default)']:.2f}")


if __name__ == "__main__":
    main()
