"""The word-level tokenizer: exact round trips, one token per number, standard save/reload."""
from __future__ import annotations

import pytest
from tokenizers.decoders import DecodeStream
from transformers import AutoTokenizer

from w2s_ray.data.world import generate_world
from w2s_ray.models.word_tokenizer import MAX_NUMBER, build_word_tokenizer, build_world_tokenizer
from w2s_ray.text.prompts import completion_text, zero_shot


@pytest.fixture(scope="module")
def tokenizer():
    return build_world_tokenizer()


@pytest.fixture(scope="module")
def world_texts():
    problems = generate_world(300, seed=11)
    return [zero_shot(p.question) + completion_text(p.solution) for p in problems]


def test_world_texts_round_trip_exactly_without_unknown_tokens(tokenizer, world_texts):
    for text in world_texts:
        ids = tokenizer(text).input_ids
        assert tokenizer.unk_token_id not in ids, text
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_every_number_is_one_token_with_or_without_a_leading_space(tokenizer):
    for n in range(MAX_NUMBER + 1):
        for text in (str(n), f" {n}"):
            ids = tokenizer(text, add_special_tokens=False).input_ids
            assert len(ids) == 1, text
            assert tokenizer.decode(ids) == text


def test_encoding_starts_with_bos_and_larger_numbers_still_round_trip(tokenizer):
    ids = tokenizer("Answer: 12345").input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Answer: 12345"


def test_unknown_words_become_unk_and_odd_spacing_survives(tokenizer):
    ids = tokenizer("Mia  has\tzebras", add_special_tokens=False).input_ids
    assert ids.count(tokenizer.unk_token_id) == 1  # only "zebras"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Mia  has\t"


def test_vocabulary_comes_from_the_given_texts():
    small = build_word_tokenizer(["The cat sat."])
    for text in ("The cat sat.", " cat The sat 7."):
        ids = small(text, add_special_tokens=False).input_ids
        assert small.unk_token_id not in ids, text
    assert small.unk_token_id in small("dog", add_special_tokens=False).input_ids


def test_saved_tokenizer_reloads_offline_with_identical_behaviour(tokenizer, world_texts, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file() and (tmp_path / "tokenizer_config.json").is_file()
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(world_texts).input_ids == tokenizer(world_texts).input_ids
    assert reloaded.padding_side == "left"
    assert (reloaded.bos_token, reloaded.eos_token, reloaded.pad_token, reloaded.unk_token) == (
        "<s>", "</s>", "<pad>", "<unk>"
    )
    batch = reloaded(world_texts[:2], padding=True).input_ids
    assert batch[0][0] == reloaded.pad_token_id or batch[1][0] == reloaded.pad_token_id


def test_incremental_detokenization_matches_full_decode(tokenizer):
    # vLLM decodes generated tokens with tokenizers' DecodeStream, primed with the prompt ids.
    for problem in generate_world(20, seed=5):
        prompt = tokenizer(zero_shot(problem.question)).input_ids
        completion = completion_text(problem.solution)
        ids = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        stream = DecodeStream(ids=prompt, skip_special_tokens=True)
        pieces = [stream.step(tokenizer.backend_tokenizer, i) for i in ids]
        assert "".join(p for p in pieces if p) == completion
