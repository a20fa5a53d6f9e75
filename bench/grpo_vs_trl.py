"""The GRPO policy update, ours against TRL's, on the same work: the same model, rollouts (prompts,
completions, group-relative advantages), batches, optimizer steps, beta and clip range.

    python bench/grpo_vs_trl.py [--steps 24] [--batch 16] [--group 4] [--beta 0.04] [--epsilon 0.2]
                                [--model NAME_OR_DIR] [--no-ray]

First, unless --no-ray, our whole Ray Train stage on these rows and steps (train_objective, one
worker: the HF Trainer loop with its data loader and shuffling, start-up, saving): its median s/step
(worker_loop.step_timer) and its wall time including start-up.

Then in this process, step by step, alternating which goes first, the same loop on two copies of the
model:
  ours  the grpo objective's worker-side loss (grpo_worker.GRPOStepTrainer.compute_loss, as each Ray
        Train worker runs it) + backward + AdamW step
  TRL   trl.GRPOTrainer._compute_loss (TRL's own method, on a stand-in carrying what it reads, as
        tests/test_train_grpo.py runs it; loss_type "dapo", TRL's default) + backward + AdamW step
Both start from the start checkpoint's log-probabilities of every row, computed once before the
first step (ours: GRPOStepTrainer._compute_start_logps; TRL: _get_per_token_logps_and_entropies, as
its generation step computes old and reference log-probs), timed apart. TRL's generation and reward
calls are not run: the comparison is the policy update. One difference is TRL's by design: its fused
LM head also computes each token's entropy (GRPOTrainer patches its model with outputs ("log_probs",
"entropy") for its entropy metric); ours computes the log-probabilities only.

Prints seconds per step (median, first step left out) for each, wall and CPU, and the ratio; since a
shared machine's load moves a step's wall time many-fold, each step's pair runs back to back and the
median of the pairs' ratios is the steadiest figure. And the largest |loss ours - loss TRL| over the
steps: the two models take the same updates, so it stays at float32 rounding (~1e-6) or below.

Rollouts: world problems, `group` completions each, the right solution or a wrong final answer,
reward 1 or 0, advantages by select/advantages.outcome_advantages. Default model: the tests' tiny
strong world model (tests/tiny_run.py); --model world-student is the demo-e2h-rl policy.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

sys.path.append(os.path.join(os.path.dirname(__file__), ".."))  # PYTHONPATH first: tests.tiny_run


def rollout_rows(n_problems: int, group: int, seed: int = 5) -> list[dict]:
    """GRPO rows: per problem `group` completions, each the right solution (reward 1) or one with a wrong
    final answer (0): on even problems the first half right, on odd ones only the first (two reward
    mixes, two advantage scales); outcome advantages per group."""
    from w2s_ray.data.world import generate_world
    from w2s_ray.select.advantages import outcome_advantages

    if group < 2:
        raise ValueError(f"--group must be at least 2, got {group}")
    rows = []
    for i, problem in enumerate(generate_world(n_problems, seed=seed)):
        body, answer = problem.solution.rsplit("#### ", 1)
        right = group // 2 if i % 2 == 0 else 1
        rewards = [1.0 if g < right else 0.0 for g in range(group)]
        prompt = f"Question: {problem.question}\nAnswer:"
        for g, (reward, advantage) in enumerate(zip(rewards, outcome_advantages(rewards))):
            completion = problem.solution if reward else f"{body}#### {int(answer) + g}"
            rows.append({"prompt": prompt, "completion": " " + completion, "advantage": advantage})
    return rows


class TRLStandIn:
    """What GRPOTrainer._compute_loss reads of its trainer, TRL 1.16's defaults with loss_type "dapo";
    its two methods are TRL's own (the same stand-in as tests/test_train_grpo.py)."""

    def __init__(self, model, beta: float, epsilon: float):
        from accelerate import Accelerator
        from trl import GRPOTrainer

        self._compute_loss = GRPOTrainer._compute_loss.__get__(self)
        self._get_per_token_logps_and_entropies = GRPOTrainer._get_per_token_logps_and_entropies.__get__(self)
        self.model, self.beta, self.accelerator = model, beta, Accelerator(cpu=True)
        self.loss_type, self.epsilon_low, self.epsilon_high = "dapo", epsilon, epsilon
        self.args = SimpleNamespace(use_bias_correction_kl=True, delta=None, steps_per_generation=1)
        self.top_entropy_quantile, self.off_policy_mask_threshold = 1.0, None
        self.importance_sampling_level, self.use_vllm, self.vllm_importance_sampling_correction = "token", False, False
        self.current_gradient_accumulation_steps = 1
        self._entropy_bonus_enabled, self.aux_loss_enabled = False, False
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}


def config_for(args, steps: int):
    from w2s_ray.train import TrainConfig
    from w2s_ray.train.config import GrpoSettings

    return TrainConfig(objective="grpo", num_workers=1, max_steps=steps, per_device_batch_size=args.batch, lr=args.lr,
                       max_length=args.max_length, seed=0, grpo=GrpoSettings(beta=args.beta, epsilon=args.epsilon))


def side_by_side(rows: list[dict], model_dir: str, args, work: Path) -> dict:
    """Ours and TRL's step, alternating, on two copies of the model; per-step seconds and losses."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.utils import add_fused_lm_head

    from w2s_ray.train.grpo import validate_grpo_rows
    from w2s_ray.train.grpo_worker import grpo_trainer
    from w2s_ray.train.worker_loop import trainer_arguments

    config = config_for(args, args.steps)
    common = trainer_arguments(config, "cpu", None, "none", str(work / "trainer"))
    trainer = grpo_trainer(config, common, model_dir, Dataset.from_list(validate_grpo_rows(rows)),
                           AutoTokenizer.from_pretrained(model_dir))
    ours_model = trainer.model.train()
    trl_model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).train()
    add_fused_lm_head(trl_model, outputs=("log_probs", "entropy"))  # as GRPOTrainer patches its model
    trl = TRLStandIn(trl_model, args.beta, args.epsilon)
    data = trainer.train_dataset
    batches = [trainer.data_collator([data[k] for k in range(s, min(s + args.batch, len(data)))])
               for s in range(0, len(data), args.batch)]

    began = time.perf_counter()
    trainer.start_logps = trainer._compute_start_logps(ours_model)
    ours_start = time.perf_counter() - began
    began = time.perf_counter()
    with torch.no_grad():  # TRL: old and reference log-probs of the sampling (start) policy, per batch
        trl_start = []
        for batch in batches:
            ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
            mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
            trl_start.append(trl._get_per_token_logps_and_entropies(
                trl_model, ids, mask, batch["completion_ids"].size(1))[0])
    trl_start_seconds = time.perf_counter() - began

    optimizers = {"ours": torch.optim.AdamW(ours_model.parameters(), lr=args.lr),
                  "TRL": torch.optim.AdamW(trl_model.parameters(), lr=args.lr)}

    def ours_step(batch, _):
        return trainer.compute_loss(ours_model, batch, num_items_in_batch=batch["completion_mask"].sum())

    def trl_step(batch, start):
        inputs = {k: batch[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")}
        inputs.update(advantages=batch["advantages"][:, 0], old_per_token_logps=start, ref_per_token_logps=start,
                      num_items_in_batch=batch["completion_mask"].sum())  # one advantage a sample, as TRL holds it
        return trl._compute_loss(trl_model, inputs)

    seconds, cpu, losses = {"ours": [], "TRL": []}, {"ours": [], "TRL": []}, {"ours": [], "TRL": []}
    for step in range(args.steps):
        k = step % len(batches)
        order = [("ours", ours_step), ("TRL", trl_step)]
        for name, compute in (order if step % 2 == 0 else order[::-1]):
            began, began_cpu = time.perf_counter(), time.process_time()
            loss = compute(batches[k], trl_start[k])
            loss.backward()
            optimizers[name].step()
            optimizers[name].zero_grad(set_to_none=True)
            seconds[name].append(time.perf_counter() - began)
            cpu[name].append(time.process_time() - began_cpu)
            losses[name].append(loss.item())
    diffs = [abs(a - b) for a, b in zip(losses["ours"], losses["TRL"])]
    return {"seconds": seconds, "cpu": cpu, "losses": losses, "diffs": diffs,
            "start_seconds": {"ours": ours_start, "TRL": trl_start_seconds}}


def ray_stage(rows: list[dict], model_dir: str, args, work: Path) -> dict:
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray
    from w2s_ray.train.objectives import train_objective

    init_ray(num_cpus=len(os.sched_getaffinity(0)), log_to_driver=False)
    try:
        began = time.perf_counter()
        metrics = train_objective(rows, model_dir, work / "ours-ray", config_for(args, args.steps), "cpu",
                                  log_dir=work / "tb").metrics
        wall = time.perf_counter() - began
    finally:
        shutdown_ray()
    return {"step": metrics["step_seconds_median"], "steps": metrics["steps"], "train": metrics["train_seconds"],
            "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--batch", type=int, default=16, help="rows per optimizer step (demo-e2h-rl's)")
    ap.add_argument("--group", type=int, default=4, help="completions per prompt")
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--epsilon", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--model", default=None, help="a built-in model name or a model directory")
    ap.add_argument("--no-ray", action="store_true", help="skip our whole Ray Train stage")
    args = ap.parse_args()
    if args.steps < 2:
        raise SystemExit("--steps must be at least 2: the first step is left out of the median")

    import torch
    import trl

    if args.model:
        from w2s_ray.models.load import resolve_model

        model_dir, label = str(resolve_model(args.model)), args.model
    else:
        from tests.tiny_run import build_tiny_models

        model_dir, label = build_tiny_models()[1], "the tests' tiny strong world model"
    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)  # what a lone Ray Train worker gets
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="w2s-bench-grpo-"))
    rows = rollout_rows(args.problems, args.group)
    # Ray first: building an HF Trainer imports ray, and init_ray refuses a ray imported before it.
    stage = None if args.no_ray else ray_stage(rows, model_dir, args, work)

    r = side_by_side(rows, model_dir, args, work)
    for step in range(args.steps):
        print(f"step {step + 1}: ours {r['seconds']['ours'][step]:.3f} s loss {r['losses']['ours'][step]:+.7f} | "
              f"TRL {r['seconds']['TRL'][step]:.3f} s loss {r['losses']['TRL'][step]:+.7f} | "
              f"|diff| {r['diffs'][step]:.1e}", flush=True)
    ours, theirs = (statistics.median(r["seconds"][n][1:]) for n in ("ours", "TRL"))
    paired = statistics.median(t / o for o, t in zip(r["seconds"]["ours"][1:], r["seconds"]["TRL"][1:]))
    print(f"\n{label}, TRL {trl.__version__}, {len(rows)} rows ({args.problems} prompts x {args.group}), batch "
          f"{args.batch}, {args.steps} steps, beta {args.beta}, clip {args.epsilon}, {cores} cores")
    print(f"start log-probs (once): ours {r['start_seconds']['ours']:.3f} s, TRL's {r['start_seconds']['TRL']:.3f} s")
    print(f"loss + backward + AdamW step, median of steps 2-{args.steps}: ours {ours:.4f} s/step, TRL {theirs:.4f} "
          f"s/step; speed vs TRL (TRL s/step / ours) = {theirs / ours:.2f}x; median of the steps' paired "
          f"ratios (each pair back to back, under the same load) = {paired:.2f}x")
    cpu_ours, cpu_trl = (statistics.median(r["cpu"][n][1:]) for n in ("ours", "TRL"))
    print(f"the same in CPU seconds (all threads; steadier than wall time on a shared machine): ours {cpu_ours:.4f}, "
          f"TRL {cpu_trl:.4f}; TRL / ours = {cpu_trl / cpu_ours:.2f}x")
    print(f"max |loss ours - loss TRL| over {args.steps} steps: {max(r['diffs']):.1e}")
    if stage is not None:
        s = stage
        print(f"ours, whole Ray Train stage (1 worker, run first, under the load of its own minutes: not a ratio): "
              f"{s['step']:.4f} s/step (median after the first), {s['steps']} steps in {s['train']:.1f} s, wall "
              f"{s['wall']:.1f} s with start-up and saving")


if __name__ == "__main__":
    main()
