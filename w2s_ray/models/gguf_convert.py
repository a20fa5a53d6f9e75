"""Convert a GGUF checkpoint (llama.cpp format) into a plain Hugging Face safetensors directory.

transformers loads a GGUF (`from_pretrained(dir, gguf_file=name)`, weights dequantised to float),
but refuses to `save_pretrained` such a model ("quantized with gguf and is not serializable"), and
vLLM wants a normal directory. So we build a fresh model from the loaded config without its
`quantization_config`, copy every weight across (all keys must match) and save that, with the
tokenizer the GGUF describes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.models.cache import cached_model
from w2s_ray.models.tiny_llama import save_model_dir

GGUF_KIND = "gguf"
SAVE_DTYPE = "bfloat16"


def load_gguf_model(gguf_path: str | Path) -> torch.nn.Module:
    """The model as transformers reads the GGUF: dequantised to float32."""
    path = Path(gguf_path)
    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, dtype: str = SAVE_DTYPE) -> Path:
    """Write config, safetensors weights (in `dtype`) and tokenizer of a GGUF model into out_dir."""
    path = Path(gguf_path)
    loaded = load_gguf_model(path)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    # strict=True: a weight the GGUF lacks would otherwise stay randomly initialised, silently.
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    fresh.generation_config = loaded.generation_config
    # Left padding for batched generation; set in the constructor, else it is not saved.
    tokenizer = AutoTokenizer.from_pretrained(
        path.parent,
        gguf_file=path.name,
        padding_side="left",
        model_max_length=config.max_position_embeddings,
    )
    return save_model_dir(fresh, tokenizer, out_dir)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_gguf_dir(gguf_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The cached HF directory for this GGUF file, converted on first use (keyed by content)."""
    path = Path(gguf_path)
    recipe = {"gguf_sha256": file_sha256(path), "file_name": path.name, "dtype": SAVE_DTYPE}
    return cached_model(GGUF_KIND, recipe, lambda out: convert_gguf(path, out), cache_dir)
