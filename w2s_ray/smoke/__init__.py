"""`python -m w2s_ray.smoke` (or jobs/gpu_smoke.py): what to run first on a GPU node (about two
minutes), one line per part (illustrative):

    PASS  cuda         1 x <GPU name>, torch <version> (CUDA 13.0), driver <version>
    PASS  model        tiny model (128 hidden, 2 layers): forward on cuda:0, logits finite
    PASS  vllm-tp1     8 rows, <n> tokens through 1 x vLLM(<dir>) on gpu in <s> s
    SKIP  vllm-tp2     needs 2 GPUs, this node has 1
    PASS  handoff      1 x vLLM(<dir>) released, its GPU memory free in <s> s
    PASS  zero2-train  2 step(s) of ZeRO-2 on 1 GPU worker(s) over NCCL, loss <x>
    PASS  serve        one completion from ray.serve.llm on gpu: '<text>'

Every part runs the project's own path: the generate stage with a run's engine cache (vLLM engine
actors, TP placement groups), the engine release with its GPU hand-off check (raycluster/
gpu_handoff.py), the train job (Ray Train, DeepSpeed, TRL), the Serve app `w2s serve` deploys. The
models are random tiny ones built here: the parts check the GPU stack, not what a model learned.
Exit status: 0 when nothing failed, 1 when a part failed, 2 when torch sees no CUDA device.
parts.py has the parts, report.py their lines; tests/test_gpu_smoke.py runs the same parts as pytest
tests marked `gpu`.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from w2s_ray.smoke.parts import PARTS
from w2s_ray.smoke.report import Outcome, Skip, SmokeState, exit_code, run_parts

__all__ = ["PARTS", "Outcome", "Skip", "SmokeState", "exit_code", "main", "run_parts"]


def no_gpu_reason() -> str | None:
    """Why this machine cannot run the smoke on an embedded Ray (cuda_check's phrase), or None."""
    from w2s_ray.raycluster.cuda_check import cuda_problem

    return cuda_problem()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in argv or "-v" in argv
    from w2s_ray.raycluster.runtime import cluster_address, init_ray, shutdown_ray

    # An embedded Ray's GPUs are this machine's (asked before Ray starts); a cluster's, its GPU nodes'.
    problem = no_gpu_reason() if cluster_address() is None else None
    if problem:
        print(f"w2s smoke: no CUDA device: {problem}", file=sys.stderr, flush=True)
        return 2
    ray = init_ray()
    try:
        if ray.cluster_resources().get("GPU", 0) < 1:
            print("w2s smoke: no CUDA device: the Ray cluster has no GPU", file=sys.stderr, flush=True)
            return 2
        # On a cluster the parts' workers read the model from here: storage every node sees.
        with tempfile.TemporaryDirectory(prefix="w2s-smoke-", dir=os.environ.get("W2S_SHARED_DIR")) as work:
            state = SmokeState(Path(work))
            try:
                outcomes = run_parts(PARTS, state, verbose=verbose)
            finally:
                if state.engines is not None:
                    state.engines.release()
    finally:
        shutdown_ray()
    failed = [o.part for o in outcomes if o.status == "FAIL"]
    print(f"w2s smoke: {'FAILED: ' + ', '.join(failed) if failed else 'all parts passed or skipped'}", flush=True)
    return exit_code(outcomes)
