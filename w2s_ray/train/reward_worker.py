"""The reward-model loops each Ray Train worker runs (worker_loop does the rest).

Outcome RM: TRL's RewardTrainer (a sequence-classification head, one logit, Bradley-Terry loss on
right-vs-wrong pairs). Process RM: TRL 1.16 has no PRM trainer (PRMTrainer was removed), so the HF
Trainer on a token-classification model, two labels, cross-entropy on every token of each labelled
step ("process_reward": Sun et al.'s --train_on_every_token) or on each step's end token only
("process_reward_step_end", ours); text/reward_format.py puts the ends where the scorer reads them,
and the prompt's tokens are -100 either way.
"""
from __future__ import annotations

from w2s_ray.train.config import TrainConfig
from w2s_ray.train.worker_loop import epochs_trained, lora_peft_config, run_metrics, run_worker

OUTCOME_HEAD = {"auto_class": "AutoModelForSequenceClassification", "num_labels": 1}
PROCESS_HEAD = {"auto_class": "AutoModelForTokenClassification", "num_labels": 2}


def outcome_rm_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    from trl import RewardConfig, RewardTrainer

    args = RewardConfig(**common, include_num_input_tokens_seen="no", model_init_kwargs={"dtype": "float32"})
    return RewardTrainer(model=model_dir, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=lora_peft_config(config, "SEQ_CLS"))


def process_rm_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer,
                       label_tokens: str = "every_token"):
    import torch
    from transformers import AutoModelForTokenClassification, DataCollatorForTokenClassification, Trainer, \
        TrainingArguments

    from w2s_ray.text.reward_format import process_rm_ids, process_rm_token_labels

    max_length = common.pop("max_length")  # TRL's argument, not the HF Trainer's
    args = TrainingArguments(**common, include_num_input_tokens_seen="non_padding", remove_unused_columns=False)
    # After the arguments: under ZeRO-3 they registered the DeepSpeed config, so the weights load partitioned.
    model = AutoModelForTokenClassification.from_pretrained(model_dir, dtype=torch.float32, **{
        k: v for k, v in PROCESS_HEAD.items() if k != "auto_class"})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"  # as the scorer pads: positions count from the first token
    if config.lora is not None:
        from peft import get_peft_model

        model = get_peft_model(model, lora_peft_config(config, "TOKEN_CLS"))

    def encode(row):
        ids, ends = process_rm_ids(tokenizer, row["prompt"], row["steps"])
        n_prompt = len(tokenizer(row["prompt"])["input_ids"])
        labels = process_rm_token_labels(n_prompt, ends, row["labels"], len(ids), label_tokens)
        return {"input_ids": ids[:max_length], "attention_mask": [1] * min(len(ids), max_length),
                "labels": labels[:max_length]}

    encoded = dataset.map(encode, remove_columns=dataset.column_names)
    return Trainer(model=model, args=args, train_dataset=encoded,
                   data_collator=DataCollatorForTokenClassification(tokenizer), processing_class=tokenizer)


def reward_metrics(trainer, config: TrainConfig, n_rows: int, train_seconds: float) -> dict:
    metrics = run_metrics(trainer, n_rows, epochs_trained(trainer, config), train_seconds)
    accuracy = [float(e["accuracy"]) for e in trainer.state.log_history if "accuracy" in e]
    metrics["final_pair_accuracy"] = accuracy[-1] if accuracy else None  # RewardTrainer logs it
    metrics["objective"] = config.objective
    return metrics


def outcome_rm_loop(loop_config: dict) -> None:
    run_worker(loop_config, outcome_rm_trainer, reward_metrics, head=OUTCOME_HEAD)


def process_rm_loop(loop_config: dict) -> None:
    run_worker(loop_config, process_rm_trainer, reward_metrics, head=PROCESS_HEAD)


def process_rm_step_end_trainer(config: TrainConfig, common: dict, model_dir: str, dataset, tokenizer):
    return process_rm_trainer(config, common, model_dir, dataset, tokenizer, label_tokens="step_end")


def process_rm_step_end_loop(loop_config: dict) -> None:
    run_worker(loop_config, process_rm_step_end_trainer, reward_metrics, head=PROCESS_HEAD)
