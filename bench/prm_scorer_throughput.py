"""Process-RM scorer throughput: the `process_reward_model` scorer on the Ray actor pool (score_dataset)
vs. a plain batched forward of the same model in one process, on the same solutions.

    python bench/prm_scorer_throughput.py MODEL_DIR [--n 4096] [--batch 64] [--forward-batch 16]

MODEL_DIR: a causal LM (e.g. a built weak teacher under $W2S_CACHE) that gets a seeded, untrained
token-classification head (throughput does not depend on what the head learned), or a PRM checkpoint.
Ray Data starts a new actor pool per run, so the pooled time includes an actor start and a model
load: `ratio` is plain / pooled with them, `ratio_after_startup` subtracts the time of a one-batch run
(start, load, and one batch, which slightly favours the pool). Target: ratio_after_startup >= 0.8.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from w2s_ray.data.world import generate_world
from w2s_ray.raycluster.runtime import init_ray, shutdown_ray
from w2s_ray.score.reward_models import ProcessRewardScorer
from w2s_ray.score.stage import score_dataset


def prm_checkpoint(model_dir: str, out: Path) -> str:
    import transformers

    config = json.loads((Path(model_dir) / "config.json").read_text())
    if any(a.endswith("ForTokenClassification") for a in config.get("architectures", [])):
        return model_dir
    torch.manual_seed(0)
    model = transformers.AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=2)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--forward-batch", type=int, default=16)
    # The plain forward uses every core (torch's threads); a scorer actor gets num_cpus (1) threads,
    # so the pool gets as many actors as the plain side has threads.
    parser.add_argument("--concurrency", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    rows = [{"question": p.question, "text": p.solution} for p in generate_world(args.n, seed=3)]
    with tempfile.TemporaryDirectory() as tmp:
        path = prm_checkpoint(args.model, Path(tmp) / "prm")
        scorer = ProcessRewardScorer(model_path=path, device="cpu", forward_batch_size=args.forward_batch)
        batch = {k: __import__("numpy").array([r[k] for r in rows], dtype=object) for k in ("question", "text")}
        start = time.perf_counter()
        scorer(batch)  # the same batched forwards, in this process
        plain = time.perf_counter() - start

        init_ray(num_cpus=2)
        import ray

        spec = {"name": "process_reward_model", "batch_size": args.batch, "concurrency": args.concurrency,
                "config": {"model_path": path, "device": "cpu", "forward_batch_size": args.forward_batch}}
        start = time.perf_counter()
        score_dataset(ray.data.from_items(rows[:args.batch]), [spec]).take_all()  # actor start, load, one batch
        startup = time.perf_counter() - start
        start = time.perf_counter()
        score_dataset(ray.data.from_items(rows), [spec]).take_all()
        pooled = time.perf_counter() - start
        shutdown_ray()
    # With too few rows the pooled run is mostly start-up and the difference is noise (512 rows
    # gave a ratio of 1e9): no figure then, and a message to ask for more rows.
    steady = pooled - startup
    enough = steady >= 0.25 * pooled
    print(json.dumps({"rows": len(rows), "plain_threads": torch.get_num_threads(), "actors": args.concurrency,
                      "plain_rows_per_s": len(rows) / plain, "pool_rows_per_s": len(rows) / pooled,
                      "ratio": plain / pooled, "startup_s": startup, "pooled_s": pooled,
                      "ratio_after_startup": plain / steady if enough else None,
                      **({} if enough else {"note": "the pooled run is mostly start-up: raise --n"})}))


if __name__ == "__main__":
    main()
