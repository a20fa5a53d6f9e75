"""Train stage: Ray Train TorchTrainer + TRL, DeepSpeed ZeRO where configured, LoRA merged on save."""
from w2s_ray.train.config import LoraSettings, TrainConfig
from w2s_ray.train.sft import train_sft
from w2s_ray.train.train_job import TrainingFailed, TrainResult

__all__ = ["LoraSettings", "TrainConfig", "TrainResult", "TrainingFailed", "train_sft"]
