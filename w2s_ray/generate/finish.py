"""How a generated solution ended, recorded beside its text by every engine.

  finish_reason  "stop": the model emitted EOS (or a stop token), or a stop string matched;
                 "length": max_tokens (or the context) ran out; vLLM's `CompletionOutput.finish_reason`
  stop_token_id  the token that ended it, EOS or a stop token, where one did; NO_TOKEN (-1) after a
                 stop string or at the length cap. That token is not in `text` (vLLM and the HF engine
                 drop special tokens), so a stage that re-tokenizes the text needs this to know the
                 model ended there: LightReasoner's authors contrast expert and amateur at the
                 position that emitted EOS too (recipes/light_reasoner/config.py, `eos_step`).

An int column with -1 and not None: Ray Data and parquet keep it a plain int64 whatever the engine.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

NO_TOKEN = -1
FINISH_COLUMNS = ("finish_reason", "stop_token_id")


def vllm_end(completion) -> tuple[str, int]:
    """(finish_reason, stop_token_id) of a vLLM CompletionOutput. vLLM keeps the EOS or stop token it
    stopped on as the last of `token_ids` (v1/core/sched/utils.py check_stop) and gives `stop_reason`
    None for EOS, the token id for a stop token, the string for a stop string."""
    reason = completion.finish_reason or ""
    ids = list(completion.token_ids)
    if reason == "stop" and not isinstance(completion.stop_reason, str) and ids:
        return reason, int(ids[-1])
    return reason, NO_TOKEN


def hf_end(new_tokens: Sequence[int], eos_ids: Iterable[int], cut_by_stop_string: bool) -> tuple[str, int]:
    """(finish_reason, stop_token_id) of one row of transformers' `generate`: it stops at the first
    of its generation config's EOS ids (and pads after it); a stop string the engine cut the text at
    came before that EOS in the text, so it is the reason then."""
    if cut_by_stop_string:
        return "stop", NO_TOKEN
    eos = set(eos_ids)
    for token in new_tokens:
        if int(token) in eos:
            return "stop", int(token)
    return "length", NO_TOKEN


def eos_ids_of(model, tokenizer) -> list[int]:
    """The ids transformers' generate stops at: the generation config's (int or list), else the
    tokenizer's EOS."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    if ids is None:
        return []
    return [int(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids])]
