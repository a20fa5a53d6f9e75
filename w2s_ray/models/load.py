"""Turn a model spec from a config into something `from_pretrained` and vLLM can load.

A spec is one of:
  - a local directory holding an HF model (returned as is);
  - a path to a `.gguf` file (converted once into a cached safetensors directory);
  - a built-in name (models/built_in.py: "world-student", "weak-a", "smollm2-135m-instruct", ...),
    built once into the cache, no hub needed;
  - anything else, e.g. "Qwen/Qwen2.5-0.5B": a Hugging Face hub id, resolved to its snapshot in the
    HF cache (models/hub.py; downloaded first when online), so every stage gets a directory.
"""
from __future__ import annotations

from pathlib import Path

from w2s_ray.models.built_in import built_in
from w2s_ray.models.gguf_convert import converted_gguf_dir
from w2s_ray.models.hub import ModelNotFoundError, hub_snapshot

def resolve_model(spec: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A local model directory for `spec` (see the module docstring); ModelNotFoundError names a
    spec that is none of these."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {path}")
        return converted_gguf_dir(path, cache_dir)
    model = built_in(str(spec))
    if model is not None:
        return model.build(cache_dir)
    if str(spec).startswith(("/", "./", "../", "~")) or path.exists():
        raise ModelNotFoundError(f"model {str(spec)!r}: no model directory at {path}")
    return hub_snapshot(str(spec))
