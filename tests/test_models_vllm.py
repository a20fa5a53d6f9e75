"""A tiny model directory built here is served by vLLM (CPU build) exactly as transformers runs it."""
from __future__ import annotations

import pytest
import torch

from w2s_ray.data.world import generate_world
from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
from w2s_ray.models.word_tokenizer import build_world_tokenizer
from w2s_ray.text.prompts import zero_shot


@pytest.mark.slow
def test_vllm_serves_a_tiny_word_level_model_like_transformers(tmp_path, monkeypatch):
    vllm = pytest.importorskip("vllm")
    # A fixed 1 GiB KV cache: by default vLLM's CPU backend wants ~92% of the machine's memory free.
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    # In this process, as the project's engines run it (generate/vllm_engine.engine_env): otherwise vLLM
    # starts an engine-core and a worker process, each importing vLLM, and they outlived the test.
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    tokenizer = build_world_tokenizer()
    model = build_tiny_llama(tokenizer, TinyLlamaShape(hidden=64, layers=2, heads=2), seed=0).eval()
    save_model_dir(model, tokenizer, tmp_path)
    prompts = [zero_shot(p.question) for p in generate_world(4, seed=2)]
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        hf = model.generate(**enc, max_new_tokens=8, do_sample=False)[:, enc.input_ids.shape[1] :]

    llm = vllm.LLM(model=str(tmp_path), dtype="float32", max_model_len=256, enforce_eager=True)
    outputs = llm.generate(prompts, vllm.SamplingParams(temperature=0, max_tokens=8))
    for prompt, expected, output in zip(prompts, hf.tolist(), outputs):
        assert output.prompt_token_ids == tokenizer(prompt).input_ids
        generated = list(output.outputs[0].token_ids)
        assert generated == expected[: len(generated)]
        assert output.outputs[0].text == tokenizer.decode(generated, skip_special_tokens=True)
