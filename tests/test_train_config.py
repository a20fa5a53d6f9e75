"""TrainConfig validation and the DeepSpeed configs handed to the trainer (no Ray, no training)."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from w2s_ray.train import LoraSettings, TrainConfig
from w2s_ray.train.deepspeed_configs import resolve_deepspeed, zero_config, zero_stage


def test_defaults_are_sft_on_two_workers_with_completion_only_loss():
    config = TrainConfig()
    assert (config.objective, config.num_workers, config.completion_only_loss) == ("sft", 2, True)
    assert config.lora is None and config.deepspeed is None and config.logging == "tensorboard"


@pytest.mark.parametrize("field, value", [("objective", "ppo"), ("deepspeed", "zero4"), ("logging", "wandb"),
                                          ("num_workers", 0), ("lr", 0)])
def test_bad_values_are_rejected(field, value):
    with pytest.raises(ValidationError, match=field):
        TrainConfig(**{field: value})


def test_unknown_keys_are_rejected():
    with pytest.raises(ValidationError, match="learning_rate"):
        TrainConfig(learning_rate=1e-4)
    with pytest.raises(ValidationError, match="rank"):
        TrainConfig(lora={"rank": 8})


def test_lora_from_a_yaml_style_mapping():
    config = TrainConfig(lora={"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": ["q_proj"]})
    assert config.lora == LoraSettings(r=8, alpha=16, dropout=0.1, target_modules=["q_proj"])


@pytest.mark.parametrize("dtype, device, bf16", [("auto", "cpu", False), ("auto", "gpu", True),
                                                 ("float32", "gpu", False), ("bfloat16", "cpu", True)])
def test_mixed_precision_follows_dtype_and_device(dtype, device, bf16):
    assert TrainConfig(dtype=dtype).mixed_precision_bf16(device) is bf16


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_zero3_gathers_weights_on_save_so_safetensors_are_written(device):
    config = zero_config(3, device)
    assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert zero_stage(config) == 3


def test_bf16_is_off_on_cpu_and_follows_the_trainer_on_gpu():
    assert zero_config(2, "cpu")["bf16"] == {"enabled": False}
    assert zero_config(2, "gpu")["bf16"] == {"enabled": "auto"}


def test_batch_sizes_are_left_to_the_trainer():
    config = zero_config(2, "cpu")
    for key in ("train_micro_batch_size_per_gpu", "train_batch_size", "gradient_accumulation_steps"):
        assert config[key] == "auto"
    assert "optimizer" not in config  # torch AdamW: DeepSpeed's fused Adam compiles for minutes on CPU


def test_configs_are_fresh_copies():
    zero_config(2, "cpu")["zero_optimization"]["stage"] = 99
    assert zero_config(2, "cpu")["zero_optimization"]["stage"] == 2


def test_resolve_names_paths_and_none(tmp_path):
    assert resolve_deepspeed(None, "cpu") is None
    assert resolve_deepspeed("zero3", "cpu") == zero_config(3, "cpu")
    custom = {"zero_optimization": {"stage": 1}, "train_batch_size": "auto"}
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(custom))
    assert resolve_deepspeed(str(path), "gpu") == custom
    with pytest.raises(FileNotFoundError):
        resolve_deepspeed(str(tmp_path / "missing.json"), "cpu")
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        resolve_deepspeed(str(path), "cpu")


def test_the_step_timer_times_the_steps_after_the_first():
    from w2s_ray.train.worker_loop import step_timer

    timer = step_timer()
    assert timer.summary() == {"first_step_seconds": None, "step_seconds_median": None, "step_seconds_mean": None}
    timer.on_train_begin(None, None, None)
    timer.on_step_end(None, None, None)
    assert len(timer.ends) == 2 and timer.summary()["step_seconds_median"] is None  # the first step only
    timer.ends = [10.0, 15.0, 16.0, 19.0]  # the loop's start, a 5 s first step, then 1 s and 3 s
    assert timer.summary() == {"first_step_seconds": 5.0, "step_seconds_median": 2.0, "step_seconds_mean": 2.0}


@pytest.mark.parametrize("setting, device, on", [("auto", "gpu", True), ("auto", "cpu", False),
                                                 (False, "gpu", False), (True, "cpu", True)])
def test_gradient_checkpointing_is_on_by_default_on_gpu_only_and_reaches_the_trainer(setting, device, on, tmp_path):
    from trl import SFTConfig

    from w2s_ray.train.worker_loop import trainer_arguments

    config = TrainConfig(gradient_checkpointing=setting)
    assert config.checkpointing(device) is on
    kwargs = trainer_arguments(config, device, None, "none", str(tmp_path))
    assert kwargs["gradient_checkpointing"] is on
    if device == "cpu":  # TRL's own default is on: the config's value must be what the trainer gets
        assert SFTConfig(**kwargs).gradient_checkpointing is on


def test_gradient_checkpointing_takes_only_auto_or_a_bool():
    with pytest.raises(ValidationError, match="gradient_checkpointing"):
        TrainConfig(gradient_checkpointing="yes")
