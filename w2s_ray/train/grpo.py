"""The rows and the loss of GRPO (objective "grpo": objectives/grpo.py; its trainer in grpo_worker.py).

Rows are one iteration's rollouts with their advantages already computed (select/advantages.py):

    {"prompt": "Question: ...\\nAnswer:", "completion": " ...", "advantage": 0.8}        outcome supervision
    {"prompt": ..., "completion": ..., "advantages": [0.8, 0.8, -0.1, ...]}              one per completion token
    optional "old_logps": [...]  the sampling policy's log-probability of each completion token
    optional "eos": false        the completion was cut off (no EOS sampled); default true: EOS appended

Per-token lists count the completion's tokens as the training tokenizer splits the completion text
alone, plus the EOS token when `eos` is true; the worker checks the count and names the row.

The loss is TRL's GRPO loss with its default `loss_type="dapo"` (TRL 1.16.0), re-implemented from
trl/trainer/grpo_trainer.py `GRPOTrainer._compute_loss` (a method bound to the whole trainer, not an
importable function), line for line as cited below; tests/test_train_grpo.py checks it against that
method on the same batch. The per-token log-probabilities are TRL's own code
(`add_fused_lm_head` and `GRPOTrainer._get_per_token_logps_and_entropies`, in grpo_worker.py).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

TEXT_FIELDS = ("prompt", "completion")
# Every column the rows may have; a stage's files need only those its rows use.
GRPO_FIELDS = (*TEXT_FIELDS, "advantage", "advantages", "old_logps", "eos")


def _finite_list(i: int, field: str, value) -> list[float]:
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not len(value):
        raise ValueError(f"GRPO row {i} field {field!r} must be a non-empty list of numbers, got {value!r:.80}")
    out = [float(v) for v in value]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"GRPO row {i} field {field!r} has a value that is not finite")
    return out


def validate_grpo_rows(rows: Sequence[dict], first: int = 0) -> list[dict]:
    """{prompt, completion, advantage | advantages, [old_logps], [eos]}; errors name the first bad row and field."""
    if not rows:
        raise ValueError("no GRPO rows to train on: the rollouts produced an empty training set")
    clean = []
    for i, row in enumerate(rows, start=first):
        for field in TEXT_FIELDS:
            if not isinstance(row.get(field), str) or not row[field].strip():
                raise ValueError(f"GRPO row {i} field {field!r} must be a non-empty string (row keys {sorted(row)})")
        if ("advantage" in row) == ("advantages" in row):
            raise ValueError(f"GRPO row {i} needs exactly one of 'advantage' (one per sample) and 'advantages' "
                             f"(one per token), got keys {sorted(row)}")
        out = {"prompt": row["prompt"], "completion": row["completion"], "eos": bool(row.get("eos", True))}
        if "advantage" in row:
            advantage = row["advantage"]
            if isinstance(advantage, bool) or not isinstance(advantage, (int, float)) or not math.isfinite(advantage):
                raise ValueError(f"GRPO row {i} field 'advantage' must be a finite number, got {advantage!r}")
            out["advantages"], out["per_token"] = [float(advantage)], False
        else:
            out["advantages"], out["per_token"] = _finite_list(i, "advantages", row["advantages"]), True
        if row.get("old_logps") is not None:
            old = _finite_list(i, "old_logps", row["old_logps"])
            if any(v > 0 for v in old):
                raise ValueError(f"GRPO row {i} field 'old_logps' has a positive log-probability")
            out["old_logps"] = old
        clean.append(out)
    return clean


def tokenize_grpo_row(i: int, row: dict, tokenizer, max_length: int) -> dict:
    """A validated row -> prompt_ids, completion_ids (EOS appended when the row says so), advantages and
    old_logps per completion token; the counts checked."""
    prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
    if row["eos"]:
        completion_ids = completion_ids + [tokenizer.eos_token_id]
    n = len(completion_ids)
    if len(prompt_ids) + n > max_length:
        raise ValueError(f"GRPO row {i}: {len(prompt_ids)} prompt + {n} completion tokens exceed max_length "
                         f"{max_length}")
    advantages = row["advantages"] * n if not row["per_token"] else row["advantages"]
    for field, values in (("advantages", advantages), ("old_logps", row.get("old_logps"))):
        if values is not None and len(values) != n:
            raise ValueError(f"GRPO row {i} field {field!r} has {len(values)} values for {n} completion tokens "
                             f"({'with' if row['eos'] else 'without'} EOS)")
    old = row.get("old_logps")
    return {"row_id": i, "prompt_ids": prompt_ids, "completion_ids": completion_ids, "advantages": advantages,
            "old_logps": old if old is not None else [0.0] * n, "has_old_logps": old is not None}


def collate_grpo(pad_id: int):
    """Rows of tokenize_grpo_row -> TRL's GRPO batch layout: prompts left-padded, completions
    right-padded (prompt_ids, prompt_mask, completion_ids, completion_mask), advantages and old_logps
    [rows, completion width], has_old_logps [rows], row_id [rows]."""
    def collate(rows: list[dict]) -> dict:
        import torch

        p_width = max(len(r["prompt_ids"]) for r in rows)
        c_width = max(len(r["completion_ids"]) for r in rows)
        b = len(rows)
        batch = {"prompt_ids": torch.full((b, p_width), pad_id, dtype=torch.long),
                 "prompt_mask": torch.zeros((b, p_width), dtype=torch.long),
                 "completion_ids": torch.full((b, c_width), pad_id, dtype=torch.long),
                 "completion_mask": torch.zeros((b, c_width), dtype=torch.long),
                 "advantages": torch.zeros((b, c_width), dtype=torch.float32),
                 "old_logps": torch.zeros((b, c_width), dtype=torch.float32),
                 "has_old_logps": torch.tensor([bool(r["has_old_logps"]) for r in rows]),
                 "row_id": torch.tensor([int(r["row_id"]) for r in rows])}
        for i, r in enumerate(rows):
            p, c = len(r["prompt_ids"]), len(r["completion_ids"])
            batch["prompt_ids"][i, p_width - p:] = torch.tensor(r["prompt_ids"])
            batch["prompt_mask"][i, p_width - p:] = 1
            batch["completion_ids"][i, :c] = torch.tensor(r["completion_ids"])
            batch["completion_mask"][i, :c] = 1
            batch["advantages"][i, :c] = torch.tensor(r["advantages"])
            batch["old_logps"][i, :c] = torch.tensor(r["old_logps"])
        return batch

    return collate


def grpo_per_token_loss(per_token_logps, old_per_token_logps, ref_per_token_logps, advantages,
                        epsilon_low: float, epsilon_high: float, beta: float):
    """TRL's per-token GRPO loss and KL ([rows, tokens]; KL None when beta is 0), lines of
    trl/trainer/grpo_trainer.py (TRL 1.16.0) as cited, with importance_sampling_level="token",
    use_bias_correction_kl=True, delta=None (TRL's defaults). `advantages`: [rows, tokens] or [rows]."""
    import torch

    if advantages.dim() == 1:  # 3058-3059
        advantages = advantages.unsqueeze(1)
    log_ratio = per_token_logps - old_per_token_logps  # 3083
    coef_1 = torch.exp(log_ratio)  # 3084-3085 (token level), 3095
    per_token_kl = None
    if beta != 0.0:  # 3098-3105: the k3 estimator, times the ratio (use_bias_correction_kl)
        per_token_kl = torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1
        per_token_kl = per_token_kl * coef_1
    coef_2 = torch.clamp(coef_1, 1 - epsilon_low, 1 + epsilon_high)  # 3113
    per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages)  # 3118-3120
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl  # 3149-3150
    return per_token_loss, per_token_kl, coef_1


def dapo_loss(per_token_loss, mask, normalizer):
    """TRL's "dapo" aggregation (grpo_trainer.py 3168-3173): the masked token sum over the tokens of
    the whole optimizer step, `normalizer` = that step's token count (all micro-batches, all ranks)
    divided by the number of processes (gradients are averaged over processes)."""
    return (per_token_loss * mask).sum() / normalizer
