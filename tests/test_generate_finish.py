"""How a generated text ended (generate/finish.py): vLLM's CompletionOutput and transformers' generate
rows read to the same two columns, finish_reason and the token it ended on (-1 for none)."""
from __future__ import annotations

from types import SimpleNamespace

from w2s_ray.generate.finish import NO_TOKEN, eos_ids_of, hf_end, vllm_end
from w2s_ray.generate.hf_engine import truncate_at_stop


def _completion(token_ids, finish_reason, stop_reason=None):
    return SimpleNamespace(text="x", token_ids=token_ids, finish_reason=finish_reason, stop_reason=stop_reason)


def test_vllm_eos_and_stop_tokens_are_kept_a_stop_string_and_the_length_cap_are_not():
    assert vllm_end(_completion([5, 6, 2], "stop")) == ("stop", 2)  # EOS: stop_reason None, last of token_ids
    assert vllm_end(_completion([5, 6, 9], "stop", stop_reason=9)) == ("stop", 9)  # a stop token id
    assert vllm_end(_completion([5, 6, 7], "stop", stop_reason="\n\n")) == ("stop", NO_TOKEN)  # a stop string
    assert vllm_end(_completion([5, 6, 7], "length")) == ("length", NO_TOKEN)
    assert vllm_end(_completion([], "stop")) == ("stop", NO_TOKEN)


def test_hf_rows_end_at_their_first_eos_unless_a_stop_string_cut_the_text_first():
    eos = [2, 3]
    assert hf_end([5, 6, 3, 2, 2], eos, cut_by_stop_string=False) == ("stop", 3)  # pads after the EOS
    assert hf_end([5, 6, 7, 8], eos, cut_by_stop_string=False) == ("length", NO_TOKEN)
    assert hf_end([5, 6, 2], eos, cut_by_stop_string=True) == ("stop", NO_TOKEN)
    full = "12 + 7 = 19\n\nQuestion: more"
    assert len(truncate_at_stop(full, ["\n\n"])) < len(full)  # how the engine tells a cut


def test_the_eos_ids_are_what_generate_stops_at():
    tok = SimpleNamespace(eos_token_id=2)
    assert eos_ids_of(SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[7, 8])), tok) == [7, 8]
    assert eos_ids_of(SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=7)), tok) == [7]
    assert eos_ids_of(SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=None)), tok) == [2]
    assert eos_ids_of(SimpleNamespace(), SimpleNamespace(eos_token_id=None)) == []
