"""The GRPO loop each Ray Train worker runs: an HF Trainer whose loss is train/grpo.py's (TRL's GRPO
loss, loss_type "dapo") on rollouts whose advantages the select stage computed.

TRL's GRPOTrainer generates and scores inside its training step; here generation (the vLLM engine
pool) and rewards (the scorer pool) are stages of their own, so the trainer only takes the policy
step on finished rollouts. Per-token log-probabilities are TRL's code: its fused LM head
(trl.trainer.utils.add_fused_lm_head) and GRPOTrainer._get_per_token_logps_and_entropies, which
reads nothing of the trainer but its accelerator.

The start checkpoint's log-probabilities of every row are computed once, before the first optimizer
step, with the policy itself (no second model): at that point the policy is the start checkpoint,
with LoRA too (a fresh adapter is the identity). They are the reference of the KL term (beta > 0;
DeepSeekMath's iterative GRPO sets the reference to the policy each iteration starts from, Algorithm 1)
and the "old" policy of the ratio for rows without the sampling policy's `old_logps` (TRL computes
the same with the model that sampled, grpo_trainer.py 2634-2657, when its optimizer steps and its
generations are out of step). TRL's DPOTrainer offers the same precomputation
(precompute_ref_log_probs). Every rank computes the rows of its shard, as many on each
(train/shards.py), the same number of forwards, so ZeRO-3's collective parameter gathers stay in step.
"""
from __future__ import annotations

from w2s_ray.train.config import GrpoSettings, TrainConfig
from w2s_ray.train.grpo import collate_grpo, dapo_loss, grpo_per_token_loss, tokenize_grpo_row
from w2s_ray.train.worker_loop import epochs_trained, lora_peft_config, run_metrics, run_worker


def completion_logps(trainer, model, batch):
    """[rows, completion width] log-probabilities of the completion tokens under `model`: TRL's code."""
    import torch
    from trl import GRPOTrainer

    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    logps, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(
        trainer, model, input_ids, attention_mask, batch["completion_ids"].size(1))
    return logps


def make_grpo_trainer_class():
    import torch
    from transformers import Trainer

    class GRPOStepTrainer(Trainer):
        # compute_loss divides by the optimizer step's token count (all micro-batches): already scaled.
        loss_is_scaled_for_ga = True

        def __init__(self, *args, grpo: GrpoSettings, **kwargs):
            super().__init__(*args, **kwargs)
            self.grpo = grpo
            self.start_logps: dict[int, torch.Tensor] | None = None
            self.step_stats: list[dict] = []

        def _get_num_items_in_batch(self, batch_samples, device):
            """The completion tokens of the whole optimizer step, summed over ranks (TRL's
            num_items_in_batch, grpo_trainer.py 2497-2498)."""
            count = sum(batch["completion_mask"].sum() for batch in batch_samples).to(device)
            if self.args.world_size > 1:
                count = self.accelerator.gather(count).sum()
            return count

        @torch.no_grad()
        def _compute_start_logps(self, model) -> dict[int, torch.Tensor]:
            was_training = model.training
            model.eval()
            collate, rows, out = self.data_collator, self.train_dataset, {}
            size = self.args.per_device_train_batch_size
            for start in range(0, len(rows), size):
                batch = collate([rows[k] for k in range(start, min(start + size, len(rows)))])
                batch = {k: v.to(self.args.device) for k, v in batch.items()}
                logps = completion_logps(self, model, batch)
                for i, row_id in enumerate(batch["row_id"].tolist()):
                    out[row_id] = logps[i, :int(batch["completion_mask"][i].sum())].detach().float().cpu()
            model.train(was_training)
            return out

        def _start_logps_of(self, batch, like):
            start = torch.zeros_like(like)
            for i, row_id in enumerate(batch["row_id"].tolist()):
                values = self.start_logps[row_id]
                start[i, :len(values)] = values.to(like.device, like.dtype)
            return start

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if return_outputs:
                raise ValueError("the GRPO step trainer returns no outputs")
            if self.start_logps is None:
                self.start_logps = self._compute_start_logps(model)
            mask = inputs["completion_mask"].float()
            logps = completion_logps(self, model, inputs)
            start = self._start_logps_of(inputs, logps)
            has_old = inputs["has_old_logps"].unsqueeze(1)
            old = torch.where(has_old, inputs["old_logps"].to(logps.dtype), start)
            epsilon_high = self.grpo.epsilon_high if self.grpo.epsilon_high is not None else self.grpo.epsilon
            per_token_loss, per_token_kl, ratio = grpo_per_token_loss(
                logps, old, start, inputs["advantages"], self.grpo.epsilon, epsilon_high, self.grpo.beta)
            tokens = num_items_in_batch if num_items_in_batch is not None else mask.sum()
            normalizer = tokens.clamp(min=1.0) / self.accelerator.num_processes
            loss = dapo_loss(per_token_loss, mask, normalizer)
            if model.training:
                self._record(per_token_kl, ratio, inputs["advantages"], mask, epsilon_high, logps)
            return loss

        def _record(self, per_token_kl, ratio, advantages, mask, epsilon_high, logps):
            """This micro-batch's KL to the reference, clipped share and mean log-probability (token means)."""
            n = mask.sum().clamp(min=1.0)
            clipped = (((ratio < 1 - self.grpo.epsilon) & (advantages < 0))
                       | ((ratio > 1 + epsilon_high) & (advantages > 0))).float()
            self.step_stats.append({
                "step": int(self.state.global_step),
                "kl": float((per_token_kl * mask).sum() / n) if per_token_kl is not None else None,
                "clip_ratio": float((clipped * mask).sum() / n),
                "mean_logp": float((logps.detach() * mask).sum() / n),
            })

    return GRPOStepTrainer


def grpo_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    import torch
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, TrainingArguments
    from trl.trainer.utils import add_fused_lm_head

    common = {k: v for k, v in common.items() if k != "max_length"}  # an SFT/DPO field; checked per row here
    # Arguments first: with a ZeRO-3 config registered, the model's weights are partitioned as they load.
    args = TrainingArguments(**common, remove_unused_columns=False)
    rows = [tokenize_grpo_row(i, row, tokenizer, config.max_length) for i, row in enumerate(dataset)]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    grpo = config.grpo or GrpoSettings()
    add_fused_lm_head(model, temperature=grpo.temperature)  # before PEFT, as TRL does (grpo_trainer.py 1068-1072)
    peft = lora_peft_config(config)
    if peft is not None:
        model = get_peft_model(model, peft)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer_class = make_grpo_trainer_class()
    return trainer_class(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         data_collator=collate_grpo(pad), processing_class=tokenizer,
                         grpo=grpo)


def grpo_metrics(trainer, config: TrainConfig, n_rows: int, train_seconds: float) -> dict:
    """run_metrics, the completion tokens trained, and the per-micro-batch KL, clip share and log-prob."""
    epochs = epochs_trained(trainer, config)
    metrics = run_metrics(trainer, n_rows, epochs, train_seconds)
    data = trainer.train_dataset
    completion = sum(len(ids) for ids in data["completion_ids"])
    metrics["completion_tokens"] = int(completion * epochs)
    # The HF trainer counts tokens from an input_ids column, which these batches do not have.
    metrics["tokens"] = int((completion + sum(len(ids) for ids in data["prompt_ids"])) * epochs)
    metrics["tokens_per_second"] = metrics["tokens"] / train_seconds if train_seconds > 0 else 0.0
    metrics["grpo_history"] = trainer.step_stats
    kls = [s["kl"] for s in trainer.step_stats if s["kl"] is not None]
    metrics["final_kl"] = kls[-1] if kls else None
    return metrics


def grpo_loop(loop_config: dict) -> None:
    """Ray Train entry point; `loop_config` is built by w2s_ray.train.train_job.run_train_job."""
    run_worker(loop_config, grpo_trainer, grpo_metrics)
