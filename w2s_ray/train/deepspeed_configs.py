"""DeepSpeed ZeRO-2 / ZeRO-3 configs for CPU and GPU, and resolving the config's `deepspeed` value.

"auto" values are filled in by transformers/accelerate from the training arguments, so batch size,
accumulation, clipping and precision are stated once, in TrainConfig. No "optimizer" section: the
HF trainer then builds torch AdamW; DeepSpeed's own fused Adam JIT-compiles for ~130 s on first
use on CPU (platform notes) and buys nothing for small models.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

_COMMON = {
    "train_micro_batch_size_per_gpu": "auto",
    "train_batch_size": "auto",
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
    "steps_per_print": 10**9,  # the HF trainer logs; DeepSpeed's own prints only add noise
    "wall_clock_breakdown": False,
}

_ZERO2 = {
    "stage": 2,
    "overlap_comm": True,
    "contiguous_gradients": True,
    "reduce_scatter": True,
    "allgather_bucket_size": 2e8,
    "reduce_bucket_size": 2e8,
}

_ZERO3 = {
    "stage": 3,
    "overlap_comm": True,
    "contiguous_gradients": True,
    "reduce_bucket_size": "auto",
    "stage3_prefetch_bucket_size": "auto",
    "stage3_param_persistence_threshold": "auto",
    # Without this, save_model writes no model.safetensors under ZeRO-3, only shards (platform notes).
    "stage3_gather_16bit_weights_on_model_save": True,
}


def zero_config(stage: int, device: str) -> dict:
    """A fresh ZeRO config dict for `stage` (2 or 3) on `device` ("cpu" or "gpu")."""
    if stage not in (2, 3):
        raise ValueError(f"ZeRO stage must be 2 or 3, got {stage}")
    config = copy.deepcopy(_COMMON)
    config["zero_optimization"] = copy.deepcopy(_ZERO2 if stage == 2 else _ZERO3)
    if device == "gpu":
        # "auto": follow the trainer's bf16/fp16 flags, i.e. TrainConfig.dtype.
        config["bf16"] = {"enabled": "auto"}
        config["fp16"] = {"enabled": "auto"}
    else:
        # bf16 on CPU is either unsupported or much slower than fp32 for these models.
        config["bf16"] = {"enabled": False}
        config["fp16"] = {"enabled": False}
    return config


def resolve_deepspeed(value: str | None, device: str) -> dict | None:
    """TrainConfig.deepspeed -> the dict handed to the trainer (None: plain DDP)."""
    if value is None:
        return None
    if value in ("zero2", "zero3"):
        return zero_config(int(value[-1]), device)
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"DeepSpeed config {path} does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"DeepSpeed config {path} is not valid JSON: {err}") from err


def zero_stage(ds_config: dict | None) -> int:
    return int((ds_config or {}).get("zero_optimization", {}).get("stage", 0))
