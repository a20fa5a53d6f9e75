"""Soft-label KL training (LightReasoner) on {input_ids, target_ids, target_probs} rows, on Ray Train
workers running an HF Trainer with the KL loss of soft_label_worker.py.

Rows are what select/light_reasoner.select_steps writes: a token-id prefix, and a sparse target over
V_t (parallel id and probability lists, the probabilities summing to 1). Extra columns are accepted
and left out of training.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from w2s_ray.raycluster.devices import Device
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.train_job import TrainResult

SOFT_LABEL_FIELDS = ("input_ids", "target_ids", "target_probs")


def validate_soft_label_rows(rows: Sequence[dict]) -> list[dict]:
    """Only the three fields, checked; errors name the first bad row and field."""
    if not rows:
        raise ValueError("no soft-label rows to train on: the selection produced an empty training set")
    clean = []
    for i, row in enumerate(rows):
        values = {}
        for field in SOFT_LABEL_FIELDS:
            value = row.get(field)
            if value is None or isinstance(value, (str, bytes)) or not len(value):
                raise ValueError(f"soft-label row {i} field {field!r} must be a non-empty list, got {value!r:.80}")
            values[field] = list(value)
        ids, targets, probs = values["input_ids"], values["target_ids"], values["target_probs"]
        if not all(isinstance(t, int) or float(t).is_integer() for t in ids + targets):
            raise ValueError(f"soft-label row {i}: input_ids and target_ids must be integers")
        if len(targets) != len(probs):
            raise ValueError(f"soft-label row {i}: {len(targets)} target_ids but {len(probs)} target_probs")
        probs = [float(p) for p in probs]
        if not all(math.isfinite(p) and p >= 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-4:
            raise ValueError(f"soft-label row {i} field 'target_probs' is not a distribution (sum {sum(probs):.6f})")
        clean.append({"input_ids": [int(t) for t in ids], "target_ids": [int(t) for t in targets],
                      "target_probs": probs})
    return clean


def train_soft_label(
    rows: Sequence[dict],
    base_model_dir: str | Path,
    out_dir: str | Path,
    config: TrainConfig,
    device: Device = "cpu",
    log_dir: str | Path | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train the model in base_model_dir toward the rows' soft targets; publish it at out_dir (the same
    contract as train_sft: complete or absent, LoRA merged). Metrics add `supervised_tokens`: the
    positions that carried a loss (one per row and epoch)."""
    if config.objective not in ("soft_kl", "soft_kl_index_minus_1"):
        raise ValueError(f"train_soft_label runs objective 'soft_kl' (or 'soft_kl_index_minus_1'), "
                         f"the config says {config.objective!r}")
    from w2s_ray.train.objectives import train_objective  # the one path every objective trains through

    return train_objective(rows, base_model_dir, out_dir, config, device, log_dir=log_dir, overwrite=overwrite)
