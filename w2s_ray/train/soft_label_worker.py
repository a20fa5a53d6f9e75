"""The soft-label KL loop each Ray Train worker runs (LightReasoner, METHODS.md 2.6): an HF Trainer
whose loss is KL(v || softmax(student logits at the prefix's last token)), v a sparse target over V_t.

Batches are right-padded, so the prefix's last token is at its last *non-pad* position, not at index
-1 (which is a pad for every row shorter than the longest: the public code's mistake); `last_positions`
finds it from the attention mask, whatever side the padding is on. The objective
`soft_kl_index_minus_1` reads index -1 as the authors do (LightR_finetuning.py), for comparing with
the paper's numbers like for like. worker_loop does the rest (process setup, LoRA merge, ZeRO,
publishing from rank 0).
"""
from __future__ import annotations

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.worker_loop import epochs_trained, lora_peft_config, run_metrics, run_worker


def last_positions(attention_mask):
    """Index of each row's last real token: the highest position whose mask is 1."""
    import torch

    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * positions).argmax(dim=1)


POSITIONS = ("last_non_pad", "index_minus_1")


def loss_positions(attention_mask, position: str = "last_non_pad"):
    """The position each row's loss reads: its last real token, or the batch's last index."""
    import torch

    if position == "index_minus_1":
        return torch.full((attention_mask.shape[0],), attention_mask.shape[1] - 1, device=attention_mask.device)
    if position != "last_non_pad":
        raise ValueError(f"soft-label loss position must be one of {POSITIONS}, got {position!r}")
    return last_positions(attention_mask)


def soft_label_kl(logits, attention_mask, target_ids, target_probs, target_mask, position: str = "last_non_pad"):
    """Mean over rows of KL(v || softmax(logits[row, p])), p from loss_positions.

    target_ids / target_probs / target_mask: [rows, K], each row's V_t padded to K with mask 0.
    v is zero outside V_t, so the sum runs over V_t only: sum_a v(a) (log v(a) - log q(a)).
    """
    import torch

    rows = torch.arange(logits.shape[0], device=logits.device)
    logq = torch.log_softmax(logits[rows, loss_positions(attention_mask, position)].float(), dim=-1)
    logq_t = logq.gather(1, target_ids)
    v = target_probs.float() * target_mask
    logv = torch.log(torch.where(v > 0, v, torch.ones_like(v)))
    return (v * (logv - logq_t)).sum(dim=1).mean()


def collate(pad_id: int, ids: str = "target_ids", probs: str = "target_probs", mask: str = "target_mask"):
    """Right-pads a list of rows {input_ids, <ids>, <probs>} into tensors; <mask> marks the real entries
    of the per-row lists (target tokens here, a choice question's options in confidence_worker.py)."""
    def collate_rows(rows: list[dict]) -> dict:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        k = max(len(r[ids]) for r in rows)
        batch = {"input_ids": torch.full((len(rows), width), pad_id, dtype=torch.long),
                 "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
                 ids: torch.zeros((len(rows), k), dtype=torch.long),
                 probs: torch.zeros((len(rows), k), dtype=torch.float32),
                 mask: torch.zeros((len(rows), k), dtype=torch.float32)}
        for i, r in enumerate(rows):
            n, m = len(r["input_ids"]), len(r[ids])
            batch["input_ids"][i, :n] = torch.tensor(r["input_ids"])
            batch["attention_mask"][i, :n] = 1
            batch[ids][i, :m] = torch.tensor(r[ids])
            batch[probs][i, :m] = torch.tensor(r[probs])
            batch[mask][i, :m] = 1.0
        return batch

    return collate_rows


def soft_label_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer,
                       position: str = "last_non_pad"):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    class SoftLabelTrainer(Trainer):
        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by the accumulation steps

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            loss = soft_label_kl(outputs.logits, inputs["attention_mask"], inputs["target_ids"],
                                 inputs["target_probs"], inputs["target_mask"], position)
            return (loss, outputs) if return_outputs else loss

    common = {k: v for k, v in common.items() if k != "max_length"}  # an SFT/DPO field: rows are token ids here
    # Arguments first: with a ZeRO-3 config registered, the model's weights are partitioned as they load.
    args = TrainingArguments(**common, remove_unused_columns=False, include_num_input_tokens_seen="non_padding")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    peft = lora_peft_config(config)
    if peft is not None:
        model = get_peft_model(model, peft)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return SoftLabelTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate(pad),
                            processing_class=tokenizer)


def soft_label_metrics(trainer, config: TrainConfig, n_rows: int, train_seconds: float) -> dict:
    """run_metrics, plus the supervised positions: one per row and epoch (the tokens trained)."""
    epochs = epochs_trained(trainer, config)
    metrics = run_metrics(trainer, n_rows, epochs, train_seconds)
    metrics["supervised_tokens"] = int(round(n_rows * epochs))
    return metrics


def _index_minus_1_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    return soft_label_trainer(config, common, model_dir, dataset, tokenizer, position="index_minus_1")


def soft_label_loop(loop_config: dict) -> None:
    """Ray Train entry point; `loop_config` is built by w2s_ray.train.train_job.run_train_job."""
    run_worker(loop_config, soft_label_trainer, soft_label_metrics)


def soft_label_loop_index_minus_1(loop_config: dict) -> None:
    """The same, the loss at index -1 (objective `soft_kl_index_minus_1`)."""
    run_worker(loop_config, _index_minus_1_trainer, soft_label_metrics)
