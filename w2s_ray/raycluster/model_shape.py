"""A model's shape from its config.json alone, for `w2s plan`'s memory estimates (raycluster/memory.py).

The plan must run where the run will not (a laptop, a CPU-only head pod): no torch, no transformers,
no vLLM, no weights. So the JSON is read as JSON, and the parameter count is computed from it for the
dense decoder layout every model of this project's configs has (Llama, Qwen2, Mistral, SmolLM:
attention with grouped KV heads, a gated MLP, RMSNorm); a config.json of another layout (a mixture of
experts, a model with no `intermediate_size`) gives no shape, and the plan says so instead of guessing.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# torch dtype names of config.json's `torch_dtype` / `dtype` -> bytes per element
DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2}


class ShapeUnknown(ValueError):
    """No shape for a model: its config.json is out of reach or of a layout not counted here."""


@dataclass(frozen=True)
class ModelShape:
    source: str  # where the config.json was read
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool
    qkv_bias: bool
    dtype: str  # the checkpoint's (config.json's torch_dtype; float32 when it names none)
    max_positions: int | None

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer of one decoder layer, by its module name (what LoRA targets)."""
        h, q = self.hidden, self.heads * self.head_dim
        return {"q_proj": (h, q), "k_proj": (h, self.kv_dim), "v_proj": (h, self.kv_dim), "o_proj": (q, h),
                "gate_proj": (h, self.intermediate), "up_proj": (h, self.intermediate),
                "down_proj": (self.intermediate, h)}

    @property
    def layer_params(self) -> int:
        weights = sum(i * o for i, o in self.linear_shapes().values())
        bias = (self.heads * self.head_dim + 2 * self.kv_dim) if self.qkv_bias else 0
        return weights + bias + 2 * self.hidden  # two RMSNorm weights

    @property
    def params(self) -> int:
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * self.layer_params + embeddings + self.hidden  # + the final norm

    @property
    def largest_layer_params(self) -> int:
        """The largest single module's parameters (what ZeRO-3 gathers at once): the embedding, mostly."""
        return max(self.vocab * self.hidden, *(i * o for i, o in self.linear_shapes().values()))

    def lora_params(self, r: int, targets: list[str] | str) -> int:
        """Trainable parameters of a rank-r adapter on `targets` ("all-linear": every linear layer of the
        decoder layers, PEFT's shorthand, which leaves the output head out)."""
        shapes = self.linear_shapes()
        names = shapes if targets == "all-linear" else [t for t in targets if t in shapes]
        return self.layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in names)


def shape_from_config(config: dict, source: str) -> ModelShape:
    """A ModelShape from a parsed config.json; ShapeUnknown names what is missing."""
    if "hidden_size" not in config and isinstance(config.get("text_config"), dict):
        config = {**config["text_config"], **{k: v for k, v in config.items() if k in ("torch_dtype", "dtype")}}
    if any(k in config for k in ("num_local_experts", "num_experts", "n_routed_experts")):
        raise ShapeUnknown(f"{source}: a mixture-of-experts layout, which this estimate does not count")
    missing = [k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                           "vocab_size") if not isinstance(config.get(k), int)]
    if missing:
        raise ShapeUnknown(f"{source}: no {', '.join(missing)} (not a dense decoder config this estimate counts)")
    heads = config["num_attention_heads"]
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    return ModelShape(
        source=source, hidden=config["hidden_size"], layers=config["num_hidden_layers"], heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or config["hidden_size"] // heads),
        intermediate=config["intermediate_size"], vocab=config["vocab_size"],
        # Unsaid, a separate output head is counted: Llama's and Qwen2's own default, and the larger count
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        # Qwen2's q/k/v projections have biases and its config has no key for them
        qkv_bias=bool(config.get("attention_bias", config.get("model_type") == "qwen2")),
        dtype=dtype if dtype in DTYPE_BYTES else "float32",
        max_positions=config.get("max_position_embeddings"),
    )


def model_shape(spec: str, hub_config_json: Callable[[str], Path] | None = None) -> ModelShape:
    """The shape of the model a config names: a local directory's config.json, or a hub id's (ORG/NAME)
    through `hub_config_json` (models/hub.py's: the HF cache, never weights). A .gguf file or a built-in
    name gives ShapeUnknown: both are made at run time."""
    path = Path(spec).expanduser()
    if path.is_dir():
        config_json = path / "config.json"
        if not config_json.is_file():
            raise ShapeUnknown(f"{spec}: no config.json in the directory")
    elif path.suffix == ".gguf":
        raise ShapeUnknown(f"{spec}: a .gguf file (converted at run time)")
    elif spec.count("/") == 1 and not spec.startswith((".", "/", "~")) and not os.path.exists(spec):
        if hub_config_json is None:
            raise ShapeUnknown(f"{spec}: a hub id, and no way to the hub's files was given")
        try:
            config_json = hub_config_json(spec)
        except FileNotFoundError as err:  # models.hub.ModelNotFoundError
            raise ShapeUnknown(str(err)) from None
    else:
        raise ShapeUnknown(f"{spec}: not a model directory or an ORG/NAME hub id (a built-in model is built at "
                           f"run time)")
    try:
        return shape_from_config(json.loads(config_json.read_text()), str(config_json))
    except json.JSONDecodeError as err:
        raise ShapeUnknown(f"{config_json}: not JSON (line {err.lineno}: {err.msg})") from None
