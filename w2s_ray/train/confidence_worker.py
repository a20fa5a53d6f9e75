"""The auxiliary-confidence loop each Ray Train worker runs (objective "logconf", train/confidence.py):
an HF Trainer whose loss is Burns et al.'s confidence loss over the options' tokens at the prompt's
last token, the hardened share taken from how far training is (global step over the total steps, as
the authors' step_frac). worker_loop does the rest (process setup, LoRA merge, ZeRO, publishing).
"""
from __future__ import annotations

from w2s_ray.train.config import ConfidenceSettings, TrainConfig
from w2s_ray.train.confidence import confidence_loss
from w2s_ray.train.soft_label_worker import collate as soft_label_collate
from w2s_ray.train.soft_label_worker import last_positions, soft_label_metrics
from w2s_ray.train.worker_loop import lora_peft_config, run_worker


def choice_logits(logits, attention_mask, choice_ids):
    """[rows, options]: each row's logits at its last real token, read at its options' token ids."""
    import torch

    rows = torch.arange(logits.shape[0], device=logits.device)
    return logits[rows, last_positions(attention_mask)].gather(1, choice_ids)


def collate(pad_id: int):
    """Right-pads rows {input_ids, choice_ids, weak_probs} into tensors; choice_mask marks real options."""
    return soft_label_collate(pad_id, ids="choice_ids", probs="weak_probs", mask="choice_mask")


def step_fraction(state) -> float:
    """How far training is, the authors' step_frac (weak_to_strong/train.py line 127, `step / nsteps`,
    before the step is counted): optimizer steps done over the run's total. Their loss sees a whole
    batch's logits (32 by default, gathered over minibatches), so the hardening quantile runs over it;
    here it runs over one device's batch (per_device_batch_size)."""
    return state.global_step / state.max_steps if state.max_steps else 0.0


def confidence_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    settings = config.confidence or ConfidenceSettings()

    class ConfidenceTrainer(Trainer):
        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by the accumulation steps

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            logits = choice_logits(outputs.logits, inputs["attention_mask"], inputs["choice_ids"])
            loss = confidence_loss(logits, inputs["weak_probs"], step_fraction(self.state), settings.aux_coef,
                                   settings.warmup_frac, settings.warmup, inputs["choice_mask"])
            return (loss, outputs) if return_outputs else loss

    common = {k: v for k, v in common.items() if k != "max_length"}  # rows are token ids here
    args = TrainingArguments(**common, remove_unused_columns=False, include_num_input_tokens_seen="non_padding")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    peft = lora_peft_config(config)
    if peft is not None:
        model = get_peft_model(model, peft)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return ConfidenceTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate(pad),
                             processing_class=tokenizer)


def confidence_loop(loop_config: dict) -> None:
    """Ray Train entry point; `loop_config` is built by w2s_ray.train.train_job.run_train_job."""
    run_worker(loop_config, confidence_trainer, soft_label_metrics)
