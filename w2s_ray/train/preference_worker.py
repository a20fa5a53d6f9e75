"""The preference loop each Ray Train worker runs: TRL DPOTrainer, or ORPOTrainer, on chosen/rejected pairs.

Same shape as sft_worker.sft_loop (every rank gets all rows and the HF sampler shards them; see there
for why not Ray Data shards), with the same process setup, LoRA merge, ZeRO handling and reporting
from worker_runtime. In TRL 1.16 ORPO lives in trl.experimental.orpo (its own trainer, older data
path), DPO in trl proper.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.deepspeed_configs import zero_stage
from w2s_ray.train.sft_worker import lora_peft_config, run_metrics
from w2s_ray.train.worker_runtime import (
    attach_deepspeed_comm,
    finish_distributed,
    prepare_worker_process,
    quiet_prints,
    report_final,
    save_final_model,
    world_rank,
)

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


def common_arguments(config: TrainConfig, device: str, ds_config: dict | None, report_to: str, output_dir: str) -> dict:
    """TrainingArguments shared by DPOConfig and ORPOConfig; the same choices as sft_worker.sft_arguments."""
    return dict(
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        learning_rate=config.lr,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.grad_accum,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        max_length=config.max_length,
        beta=config.beta,
        seed=config.seed,
        data_seed=config.seed,
        # TRL 1.16 defaults both to True; neither works for fp32 training on CPU (platform notes).
        bf16=config.mixed_precision_bf16(device),
        gradient_checkpointing=False,
        use_cpu=device == "cpu",
        deepspeed=ds_config,
        report_to=report_to,
        logging_steps=config.logging_steps,
        save_strategy="no",  # the driver publishes the one final model; no mid-run pickles
        disable_tqdm=True,
        ddp_find_unused_parameters=False,  # every trained parameter gets a gradient; the search costs a pass
        dataloader_pin_memory=device == "gpu",
    )


def dpo_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(
        **common,
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
        # Its collator emits chosen_/rejected_input_ids, not input_ids, so the HF trainer cannot count
        # tokens (it warns every step); preference_metrics counts them from the tokenized dataset.
        include_num_input_tokens_seen="no",
        # ORPO's own default is device_map="auto"; each Ray Train worker owns one device already.
        model_init_kwargs={"dtype": "float32", "device_map": None},
        remove_unused_columns=False,  # its collator needs the tokenized columns (it would force this)
    )
    return ORPOTrainer(model=model_dir, args=args, train_dataset=dataset, processing_class=tokenizer,
                       peft_config=lora_peft_config(config))


def preference_metrics(trainer, objective: str, n_rows: int, epochs: float, train_seconds: float) -> dict:
    """run_metrics (loss, throughput) plus the reward accuracy and margin per logging step."""
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


def preference_loop(loop_config: dict) -> None:
    """Ray Train entry point; `loop_config` is built by w2s_ray.train.preference.train_preference."""
    import ray
    from datasets import Dataset
    from transformers import AutoTokenizer

    config = TrainConfig.model_validate(loop_config["train_config"])
    device = loop_config["device"]
    ds_config = loop_config["deepspeed"]
    prepare_worker_process(device, loop_config["torch_extensions_dir"], loop_config["tensorboard_dir"])
    rows = ray.get(loop_config["rows"])
    if ds_config is not None:
        attach_deepspeed_comm()
    scratch = Path(tempfile.mkdtemp(prefix=f"w2s-{config.objective}-"))
    try:
        common = common_arguments(config, device, ds_config, loop_config["report_to"], str(scratch / "trainer"))
        tokenizer = AutoTokenizer.from_pretrained(loop_config["base_model_dir"])
        build = dpo_trainer if config.objective == "dpo" else orpo_trainer
        with quiet_prints():
            # A path, not a model: TRL loads it after the arguments registered the DeepSpeed config,
            # so ZeRO-3 partitions the weights as they load.
            trainer = build(config, common, loop_config["base_model_dir"], Dataset.from_list(rows), tokenizer)
        # train_runtime counts the training loop only, not DeepSpeed's engine set-up.
        train_seconds = trainer.train().metrics["train_runtime"]
        metrics = preference_metrics(trainer, config.objective, len(rows), config.epochs, train_seconds)
        model_dir = scratch / "model"
        save_final_model(trainer, tokenizer, loop_config["base_model_dir"], config.lora is not None, model_dir)
        report_final(metrics, model_dir if world_rank() == 0 else None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        finish_distributed(zero_stage(ds_config))
