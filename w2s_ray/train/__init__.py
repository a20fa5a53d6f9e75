"""Train stage: Ray Train TorchTrainer + TRL, DeepSpeed ZeRO where configured, LoRA merged on save.

objectives  every objective by name (register_objective); train_objective runs config.objective:
            SFT on {prompt, completion} rows, DPO / ORPO on {prompt, chosen, rejected} pairs, ...
"""
from w2s_ray.train.config import LoraSettings, TrainConfig
from w2s_ray.train.train_job import TrainingFailed, TrainResult

__all__ = ["LoraSettings", "TrainConfig", "TrainResult", "TrainingFailed"]
