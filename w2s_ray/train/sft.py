"""Supervised fine-tuning on prompt-completion rows, on Ray Train workers running TRL's SFTTrainer.

Rows use TRL's prompt-completion format: {"prompt": "Question: ...\\nAnswer:", "completion": " ..."}.
With completion_only_loss (the default) the loss covers the completion only; TRL appends EOS.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from w2s_ray.raycluster.devices import Device
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.train_job import TrainResult


def validate_sft_rows(rows: Sequence[dict]) -> list[dict]:
    """Only {prompt, completion} strings, at least one row; errors name the first bad row."""
    if not rows:
        raise ValueError("no SFT rows to train on: the selection produced an empty training set")
    clean = []
    for i, row in enumerate(rows):
        prompt, completion = row.get("prompt"), row.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise ValueError(f"SFT row {i} needs string 'prompt' and 'completion', got keys {sorted(row)}")
        if not completion.strip():
            raise ValueError(f"SFT row {i} has an empty completion: nothing to learn from it")
        clean.append({"prompt": prompt, "completion": completion})
    return clean


def train_sft(
    rows: Sequence[dict],
    base_model_dir: str | Path,
    out_dir: str | Path,
    config: TrainConfig,
    device: Device = "cpu",
    log_dir: str | Path | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Fine-tune the model in base_model_dir on rows; publish a plain HF model dir at out_dir.

    Ray must be initialised (w2s_ray.raycluster.runtime.init_ray). base_model_dir and the storage beside
    out_dir must be readable by every train worker (shared storage on a multi-node cluster).
    out_dir appears complete (model.safetensors, tokenizer, train_config.json, metrics.json) or
    not at all; a LoRA adapter is merged into the weights before saving.
    """
    if config.objective != "sft":
        raise ValueError(f"train_sft runs objective 'sft', the config says {config.objective!r}")
    from w2s_ray.train.objectives import train_objective  # the one path every objective trains through

    return train_objective(rows, base_model_dir, out_dir, config, device, log_dir=log_dir, overwrite=overwrite)
