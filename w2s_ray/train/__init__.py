"""Train stage: Ray Train TorchTrainer + TRL, DeepSpeed ZeRO where configured, LoRA merged on save.

train_sft         SFT on {prompt, completion} rows (objective "sft")
train_preference  DPO or ORPO on {prompt, chosen, rejected} pairs (objective "dpo" / "orpo")
objectives        every objective by name (register_objective); train_objective runs config.objective
"""
from w2s_ray.train.config import LoraSettings, TrainConfig
from w2s_ray.train.preference import train_preference, validate_preference_rows
from w2s_ray.train.sft import train_sft
from w2s_ray.train.train_job import TrainingFailed, TrainResult

__all__ = ["LoraSettings", "TrainConfig", "TrainResult", "TrainingFailed", "train_preference", "train_sft",
           "validate_preference_rows"]
