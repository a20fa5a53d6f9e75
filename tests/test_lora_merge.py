"""A LoRA run's merged model is saved in the training's dtype (worker_runtime._merge_adapter): bf16 under
bf16 mixed precision (half the bytes of fp32: ~3 GB a round for a 1.5B model, not ~6), fp32 otherwise.
The merge itself runs on a tiny model here, without Ray Train: it is what rank 0 does after training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import long_test
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from tests.test_train_sft import FAST, base_model, ray_for_training, rows  # noqa: F401 (fixtures)
from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
from w2s_ray.models.word_tokenizer import build_world_tokenizer
from w2s_ray.train import LoraSettings, TrainConfig
from w2s_ray.train.worker_loop import merged_dtype
from w2s_ray.train.worker_runtime import _merge_adapter


@pytest.fixture(scope="module")
def base_and_adapter(tmp_path_factory) -> tuple[Path, Path, object]:
    from peft import LoraConfig, get_peft_model

    tokenizer = build_world_tokenizer()
    root = tmp_path_factory.mktemp("merge")
    base = save_model_dir(build_tiny_llama(tokenizer, TinyLlamaShape(hidden=64, layers=2, heads=2), seed=0),
                          tokenizer, root / "base")
    model = build_tiny_llama(tokenizer, TinyLlamaShape(hidden=64, layers=2, heads=2), seed=0)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a trained adapter: B is zero at initialisation, which would merge to nothing
        torch.manual_seed(1)
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.05)
    peft.save_pretrained(root / "adapter")
    return base, root / "adapter", tokenizer


def saved_dtypes(model_dir: Path) -> set[str]:
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        return {str(f.get_slice(name).get_dtype()) for name in f.keys()}


@pytest.mark.parametrize("config, device, dtype", [(TrainConfig(), "gpu", "bfloat16"), (TrainConfig(), "cpu", "float32"),
                                                   (TrainConfig(dtype="bfloat16"), "cpu", "bfloat16"),
                                                   (TrainConfig(dtype="float32"), "gpu", "float32")])
def test_the_merge_dtype_is_the_trainings(config, device, dtype):
    assert merged_dtype(config.model_copy(update={"lora": LoraSettings()}), device) == dtype


def test_a_bf16_merge_saves_bf16_weights_equal_to_the_fp32_merge_rounded(base_and_adapter, tmp_path):
    base, adapter, tokenizer = base_and_adapter
    _merge_adapter(str(base), adapter, tokenizer, tmp_path / "fp32", dtype="float32")
    _merge_adapter(str(base), adapter, tokenizer, tmp_path / "bf16", dtype="bfloat16")

    assert saved_dtypes(tmp_path / "fp32") == {"F32"}
    assert saved_dtypes(tmp_path / "bf16") == {"BF16"}
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    full, half = load_file(str(tmp_path / "fp32" / "model.safetensors")), load_file(str(tmp_path / "bf16" / "model.safetensors"))
    assert set(full) == set(half) and not any("lora" in k for k in half)
    assert all(torch.equal(full[k].to(torch.bfloat16), half[k]) for k in full)
    original = load_file(str(base / "model.safetensors"))
    changed = [k for k in full if not torch.equal(original[k], full[k])]
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed)  # the adapter was merged
    assert (tmp_path / "bf16" / "model.safetensors").stat().st_size < 0.6 * (tmp_path / "fp32" / "model.safetensors").stat().st_size


@pytest.mark.slow
@long_test  # a Ray Train run (~140 s loaded); the merge itself is tested above without Ray
def test_a_bf16_lora_training_publishes_bf16_weights(ray_for_training, base_model, rows, tmp_path):
    """End to end through Ray Train: bf16 mixed precision (on CPU here, as train.dtype bfloat16 asks),
    LoRA, merged and published in bf16."""
    from w2s_ray.train.objectives import train_objective

    out = tmp_path / "lora-bf16"
    lora = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    train_objective(rows, base_model, out, TrainConfig(lora=lora, logging="none", dtype="bfloat16", **FAST),
                    device="cpu")
    assert saved_dtypes(out) == {"BF16"}
    assert json.loads((out / "train_config.json").read_text())["gradient_checkpointing"] is False  # auto on CPU
