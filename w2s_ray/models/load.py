"""Turn a model spec from a config into something `from_pretrained` and vLLM can load.

A spec is one of:
  - a local directory holding an HF model (returned as is);
  - a path to a `.gguf` file (converted once into a cached safetensors directory);
  - "smollm2-135m-instruct", "weak-a", "weak-b" or "weak-c" (built once into the cache, no hub needed);
  - anything else, e.g. "Qwen/Qwen2.5-0.5B": a Hugging Face hub name, returned unchanged for
    transformers / vLLM to download (this needs hub access, which the demo machine does not have).
"""
from __future__ import annotations

from pathlib import Path

from w2s_ray.models.gguf_convert import converted_gguf_dir
from w2s_ray.models.smollm2 import SMOLLM2_NAME, smollm2_model_dir
from w2s_ray.models.weak_teacher import DEFAULT_RECIPES, build_weak_teacher

BUILT_IN_MODELS = (SMOLLM2_NAME, *DEFAULT_RECIPES)


def resolve_model(spec: str | Path, cache_dir: str | Path | None = None) -> Path | str:
    """A local model directory for `spec`, or the hub name unchanged (see the module docstring)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        return converted_gguf_dir(path, cache_dir)
    if spec == SMOLLM2_NAME:
        return smollm2_model_dir(cache_dir)
    if spec in DEFAULT_RECIPES:
        return build_weak_teacher(str(spec), cache_dir)
    if str(spec).startswith(("/", "./", "../", "~")):
        raise FileNotFoundError(f"model directory not found: {path}")
    return str(spec)
