"""Preference training (DPO or ORPO) on {prompt, chosen, rejected} pairs, on Ray Train workers.

Rows use TRL's preference format: {"prompt": "Question: ...\\nAnswer:", "chosen": " ...", "rejected": " ..."},
as w2s_ray.select.build_preference_pairs writes them (its provenance columns are accepted and left
out of training). TRL appends EOS to both completions.

DPO's reference model is the starting model: with LoRA, the base with the adapter switched off
(TRL computes it from the same weights, no copy); without LoRA, TRL loads a frozen second copy, so a
full-model DPO run holds two models per worker. ORPO needs no reference model.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from w2s_ray.raycluster.devices import Device
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.train_job import TrainResult

PREFERENCE_OBJECTIVES = ("dpo", "orpo")
PAIR_FIELDS = ("prompt", "chosen", "rejected")


def validate_preference_rows(rows: Sequence[dict]) -> list[dict]:
    """Only {prompt, chosen, rejected} strings, at least one row; errors name the first bad row and field."""
    if not rows:
        raise ValueError("no preference pairs to train on: the selection produced an empty training set")
    clean = []
    for i, row in enumerate(rows):
        for field in PAIR_FIELDS:
            value = row.get(field)
            if not isinstance(value, str):
                raise ValueError(f"preference row {i} field {field!r} must be a string, got {type(value).__name__}"
                                 f" (row keys {sorted(row)})")
            # An empty completion is only EOS; an empty prompt has no question to prefer answers to.
            if not value.strip():
                raise ValueError(f"preference row {i} field {field!r} is empty")
        if row["chosen"] == row["rejected"]:
            # The DPO loss of identical completions is constant: the pair carries no preference.
            raise ValueError(f"preference row {i} field 'rejected' equals 'chosen': the pair prefers nothing")
        clean.append({field: row[field] for field in PAIR_FIELDS})
    return clean


def train_preference(
    rows: Sequence[dict],
    base_model_dir: str | Path,
    out_dir: str | Path,
    config: TrainConfig,
    device: Device = "cpu",
    log_dir: str | Path | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """DPO or ORPO (config.objective) of the model in base_model_dir on rows; publish it at out_dir.

    Ray must be initialised (w2s_ray.raycluster.runtime.init_ray). Same contract as train_sft: out_dir appears
    complete (model.safetensors, tokenizer, train_config.json, metrics.json) or not at all, and a
    LoRA adapter is merged before saving. Set config.lr for preference training (see TrainConfig).
    Metrics add, from the trainer's log: preference_history [{step, reward_accuracy, reward_margin,
    ...}], final_reward_accuracy and final_reward_margin.
    """
    if config.objective not in PREFERENCE_OBJECTIVES:
        raise ValueError(f"train_preference runs objective 'dpo' or 'orpo', the config says {config.objective!r}")
    from w2s_ray.train.objectives import train_objective  # the one path every objective trains through

    return train_objective(rows, base_model_dir, out_dir, config, device, log_dir=log_dir, overwrite=overwrite)
