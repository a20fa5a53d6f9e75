"""grpo: TRL's GRPO policy-gradient loss (clipped ratio, k3 KL to the start checkpoint, loss_type "dapo")
on {prompt, completion, advantage | advantages} rollouts (train/grpo.py, train/grpo_worker.py); the
advantages come from select/advantages.py (outcome or process supervision)."""
from w2s_ray.train.grpo import GRPO_FIELDS, validate_grpo_rows
from w2s_ray.train.grpo_worker import grpo_loop
from w2s_ray.train.objectives import register_objective

register_objective("grpo", loop=grpo_loop, rows=validate_grpo_rows, columns=GRPO_FIELDS)
