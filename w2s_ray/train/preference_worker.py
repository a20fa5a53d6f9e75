"""The preference loop each Ray Train worker runs: TRL DPOTrainer, or ORPOTrainer, on chosen/rejected pairs.

worker_loop does what every objective shares (process setup, LoRA merge, ZeRO, reporting). In
TRL 1.16 ORPO lives in trl.experimental.orpo (its own trainer, older data path), DPO in trl proper.
"""
from __future__ import annotations

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.worker_loop import epochs_trained, lora_peft_config, run_metrics, run_worker

# Trainer log key -> metrics key. DPO and ORPO both log the first four; ORPO adds its two loss parts.
PREFERENCE_LOG_KEYS = {
    "rewards/accuracies": "reward_accuracy",
    "rewards/margins": "reward_margin",
    "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected",
    "logps/chosen": "logp_chosen",
    "logps/rejected": "logp_rejected",
    "nll_loss": "nll_loss",
    "log_odds_ratio": "log_odds_ratio",
}


def dpo_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(
        **common,
        beta=config.beta,
        loss_type=[config.dpo_loss_type],
        include_num_input_tokens_seen="non_padding",
        # fp32 master weights whatever the checkpoint's dtype (the reference copy follows the model).
        model_init_kwargs={"dtype": "float32"},
    )
    # ref_model=None: TRL's reference is the starting policy (adapter off with LoRA, else a frozen copy).
    return DPOTrainer(model=model_dir, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=lora_peft_config(config))


def orpo_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    import os

    # Known and chosen (the module docstring says where ORPO lives); the warning repeats per worker.
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    args = ORPOConfig(
        **common,
        beta=config.beta,
        # Its collator emits chosen_/rejected_input_ids, not input_ids, so the HF trainer cannot count
        # tokens (it warns every step); preference_metrics counts them from the tokenized dataset.
        include_num_input_tokens_seen="no",
        # ORPO's own default is device_map="auto"; each Ray Train worker owns one device already.
        model_init_kwargs={"dtype": "float32", "device_map": None},
        remove_unused_columns=False,  # its collator needs the tokenized columns (it would force this)
    )
    return ORPOTrainer(model=model_dir, args=args, train_dataset=dataset, processing_class=tokenizer,
                       peft_config=lora_peft_config(config))


def preference_metrics(trainer, config: TrainConfig, n_rows: int, train_seconds: float) -> dict:
    """run_metrics (loss, throughput) plus the reward accuracy and margin per logging step."""
    objective, epochs = config.objective, epochs_trained(trainer, config)
    metrics = run_metrics(trainer, n_rows, epochs, train_seconds)
    if objective == "orpo":
        columns = trainer.train_dataset.column_names
        if "chosen_input_ids" in columns and "rejected_input_ids" in columns:
            per_epoch = sum(len(ids) for name in ("chosen_input_ids", "rejected_input_ids")
                            for ids in trainer.train_dataset[name])
            metrics["tokens"] = int(per_epoch * epochs)
            metrics["tokens_per_second"] = metrics["tokens"] / train_seconds if train_seconds > 0 else 0.0
    history = []
    for entry in trainer.state.log_history:
        picked = {name: float(entry[key]) for key, name in PREFERENCE_LOG_KEYS.items() if key in entry}
        if picked:  # per-step entries only: the run's closing summary carries none of these keys
            history.append({"step": entry["step"], **picked})
    metrics["preference_history"] = history
    metrics["final_reward_accuracy"] = history[-1].get("reward_accuracy") if history else None
    metrics["final_reward_margin"] = history[-1].get("reward_margin") if history else None
    metrics["objective"] = objective
    return metrics


def preference_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    build = dpo_trainer if config.objective == "dpo" else orpo_trainer
    return build(config, common, model_dir, dataset, tokenizer)


def preference_loop(loop_config: dict) -> None:
    """Ray Train entry point; `loop_config` is built by w2s_ray.train.train_job.run_train_job."""
    run_worker(loop_config, preference_trainer, preference_metrics)
