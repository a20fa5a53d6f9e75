"""The SFT loop each Ray Train worker runs: TRL SFTTrainer on prompt-completion rows (worker_loop
does the rest)."""
from __future__ import annotations

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.worker_loop import epochs_trained, lora_peft_config, run_metrics, run_worker


def sft_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer, eval_dataset=None):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **common,
        completion_only_loss=config.completion_only_loss,
        include_num_input_tokens_seen="non_padding",
        # fp32 master weights whatever the checkpoint's dtype; bf16 (on GPU) is autocast on top.
        model_init_kwargs={"dtype": "float32"},
    )
    return SFTTrainer(model=model_dir, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                      processing_class=tokenizer, peft_config=lora_peft_config(config))


def sft_metrics(trainer, config: TrainConfig, n_rows: int, train_seconds: float) -> dict:
    return run_metrics(trainer, n_rows, epochs_trained(trainer, config), train_seconds)


def sft_loop(loop_config: dict) -> None:
    """Ray Train entry point; `loop_config` is built by w2s_ray.train.train_job.run_train_job."""
    run_worker(loop_config, sft_trainer, sft_metrics)
