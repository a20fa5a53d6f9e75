"""Tiny Llama models built from scratch for a given tokenizer, and saving a model directory.

A saved directory (config.json, model.safetensors, generation_config.json and the tokenizer files)
loads offline with transformers' Auto classes and with vLLM.
"""
from __future__ import annotations

from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase


class TinyLlamaShape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: int = 64
    layers: int = 3
    heads: int = 4
    intermediate: int | None = None  # default 4 x hidden
    max_positions: int = 512
    init_std: float = 0.02


def build_tiny_llama(tokenizer: PreTrainedTokenizerBase, shape: TinyLlamaShape, seed: int) -> LlamaForCausalLM:
    """A freshly initialised Llama whose embeddings match the tokenizer; same weights for a seed."""
    if shape.hidden % shape.heads:
        raise ValueError(f"hidden ({shape.hidden}) must be a multiple of heads ({shape.heads})")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
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
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def save_model_dir(model, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    """Weights as safetensors plus the tokenizer, in one directory that vLLM and transformers load."""
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def count_parameters(model) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
