"""Our train stage (Ray Train + TRL, one worker, then two) against TRL's trainer alone in one process:
the same rows, model, optimizer steps and global batch, for SFT (SFTTrainer) and DPO (DPOTrainer).

    python bench/train_vs_trl.py [--objective sft dpo] [--steps 24] [--batch 8] [--repeats 2]
                                 [--hidden 256 --layers 4] [--model NAME_OR_DIR]

Seconds per step after start-up: the same trainer callback on both sides (worker_loop.step_timer,
which the train stage adds to every run) times each optimizer step inside the process that trains
(rank 0 of the Ray Train group; the ranks meet at every step's all-reduce); the first step carries
the warm-up and is left out; the median of the rest is the figure (the mean is printed too: a shared
machine's stalls move it, not the median). Start-up is everything else: ours, the whole Ray Train
run's wall time less its training loop (worker group, imports in the workers, model load, tokenising,
saving and publishing); TRL's, building the trainer (model load, tokenising; trl imported before) and
saving the model, less its training loop.

speed = TRL's s/step / ours: the throughput ratio (1.00x as fast as TRL alone, 0.90x 10 % slower).
Two workers split the same global batch (batch / 2 each) over this machine's cores, one thread each
(a lone worker and TRL get all cores): on one node that says what data parallelism costs here.

TRL runs with the arguments that define the computation as ours sets them (lr, schedule, batch,
max_length, fp32, no gradient checkpointing, no mid-run saves) and its own defaults for the rest
(logging every 10 steps, no tracker, no token counting); ours runs as the train stage runs
(TrainConfig's defaults: TensorBoard logging every step, non-pad tokens counted).

Default model: a tiny world Llama built here (world tokenizer). --model takes a built-in name or a
model directory (e.g. SmolLM2-135M, built into the model cache on first use; much slower per step).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from w2s_ray.data.world import generate_world
from w2s_ray.models.weak_teacher import training_examples
from w2s_ray.raycluster.runtime import init_ray, shutdown_ray
from w2s_ray.train import TrainConfig
from w2s_ray.train.objectives import train_objective
from w2s_ray.train.worker_loop import step_timer


def sft_rows(n: int) -> list[dict]:
    return [{"prompt": p, "completion": c} for p, c in training_examples(generate_world(n, seed=1))]


def dpo_rows(n: int) -> list[dict]:
    """Chosen: the right solution; rejected: the same with a wrong final answer."""
    rows = []
    for prompt, completion in training_examples(generate_world(n, seed=2)):
        body, answer = completion.rsplit("#### ", 1)
        rows.append({"prompt": prompt, "chosen": completion, "rejected": f"{body}#### {int(answer) + 3}"})
    return rows


def tiny_model(out: Path, hidden: int, layers: int) -> str:
    from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
    from w2s_ray.models.word_tokenizer import build_world_tokenizer

    tokenizer = build_world_tokenizer()
    shape = TinyLlamaShape(hidden=hidden, layers=layers, heads=max(1, hidden // 64), head_dim=64)
    return str(save_model_dir(build_tiny_llama(tokenizer, shape, seed=0), tokenizer, out))


def config_for(objective: str, steps: int, batch: int, workers: int, max_length: int) -> TrainConfig:
    return TrainConfig(objective=objective, num_workers=workers, max_steps=steps, per_device_batch_size=batch // workers,
                       max_length=max_length, lr=1e-5 if objective == "dpo" else 1e-4, seed=0)


def ours(objective: str, rows: list[dict], model: str, config: TrainConfig, work: Path) -> dict:
    out = work / f"ours-{objective}-{config.num_workers}w-{config.max_steps}-{time.monotonic_ns()}"
    m = train_objective(rows, model, out, config, "cpu", log_dir=work / "tb" / out.name).metrics
    return {"steps": m["steps"], "train": m["train_seconds"], "wall": m["wall_seconds"], "step": m["step_seconds_median"],
            "step_mean": m["step_seconds_mean"], "first": m["first_step_seconds"]}


def trl_alone(objective: str, rows: list[dict], model: str, config: TrainConfig, work: Path) -> dict:
    """TRL's trainer in this process on the same rows and arguments; nothing of ours in between."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    common = dict(output_dir=str(work / "trl-scratch"), max_steps=config.max_steps, learning_rate=config.lr,
                  per_device_train_batch_size=config.per_device_batch_size * config.num_workers,
                  lr_scheduler_type=config.lr_scheduler, max_length=config.max_length, seed=config.seed,
                  data_seed=config.seed, bf16=False, use_cpu=True, gradient_checkpointing=False,
                  save_strategy="no", report_to="none", disable_tqdm=True, model_init_kwargs={"dtype": "float32"})
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model)
    if objective == "sft":
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(model=model, args=SFTConfig(**common, completion_only_loss=config.completion_only_loss),
                             train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    else:
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(model=model, args=DPOConfig(**common, beta=config.beta, loss_type=[config.dpo_loss_type]),
                             train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    timer = step_timer()
    trainer.add_callback(timer)
    train_seconds = trainer.train().metrics["train_runtime"]
    out = work / f"trl-{objective}-{config.max_steps}-{time.monotonic_ns()}"
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    steps = timer.summary()
    return {"steps": trainer.state.global_step, "train": train_seconds, "wall": time.perf_counter() - started,
            "step": steps["step_seconds_median"], "step_mean": steps["step_seconds_mean"],
            "first": steps["first_step_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objective", nargs="+", default=["sft", "dpo"], choices=["sft", "dpo"])
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--batch", type=int, default=8, help="global batch (two workers: batch / 2 each)")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--model", default=None, help="a built-in model name or a model directory")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if args.steps < 3 or args.batch % max(args.workers):
        raise SystemExit("--steps must be at least 3 and --batch must divide by every worker count")

    import torch
    import trl  # noqa: F401  imported before any timing: TRL's start-up below excludes its import

    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)  # what a lone Ray Train worker gets (worker_runtime.cpu_threads_per_worker)
    work = Path(tempfile.mkdtemp(prefix="w2s-bench-train-"))
    if args.model:
        from w2s_ray.models.load import resolve_model

        model, label = str(resolve_model(args.model)), args.model
    else:
        model, label = tiny_model(work / "model", args.hidden, args.layers), f"tiny llama {args.hidden}x{args.layers}"
    init_ray(num_cpus=cores, log_to_driver=False)
    runs = [("TRL alone", trl_alone, 1)] + [(f"ours, {w} worker{'s' * (w > 1)}", ours, w) for w in args.workers]
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for objective in args.objective:
            rows = (sft_rows if objective == "sft" else dpo_rows)(args.rows)
            for _ in range(args.repeats):  # interleaved: a load change on a shared machine hits every run
                for name, run, workers in runs:
                    r = run(objective, rows, model, config_for(objective, args.steps, args.batch, workers,
                                                               args.max_length), work)
                    results.setdefault((objective, name), []).append(r)
                    print(f"{objective} {name}: {r['step']:.3f} s/step (mean {r['step_mean']:.3f}, first "
                          f"{r['first']:.2f}), start-up {r['wall'] - r['train']:.1f} s, {r['steps']} steps "
                          f"in {r['train']:.1f} s", flush=True)
    finally:
        shutdown_ray()
    print(f"\n{label}, {args.rows} rows, global batch {args.batch}, {args.steps} steps, {cores} cores, "
          f"median of {args.repeats} run(s) each")
    print(f"{'objective':<9} {'run':<17} {'s/step':>7} {'speed vs TRL':>12} {'mean s/step':>11} {'start-up s':>10}")
    for objective in args.objective:
        base = statistics.median(r["step"] for r in results[(objective, "TRL alone")])
        for name, _, _ in runs:
            rs = results[(objective, name)]
            step = statistics.median(r["step"] for r in rs)
            print(f"{objective:<9} {name:<17} {step:>7.3f} {base / step:>11.2f}x "
                  f"{statistics.median(r['step_mean'] for r in rs):>11.3f} "
                  f"{statistics.median(r['wall'] - r['train'] for r in rs):>10.1f}")


if __name__ == "__main__":
    main()
