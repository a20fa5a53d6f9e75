"""Train a causal LM from scratch on (prompt, completion) pairs, packed into fixed-length rows.

Each example is BOS + prompt + completion + EOS (or several prompt/completion pairs: one document).
Examples are shuffled once per epoch (seeded) and laid whole into rows of `seq_len` tokens, the rest of a row padded and left out of the loss: an
example cut at a row boundary would ask for an answer whose question is not in view. Attention
runs across the examples of a row, which the EOS/BOS pair separates. With a step budget the run is
deterministic for a seed; a time budget stops wherever the clock says.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, model_validator
from transformers import PreTrainedTokenizerBase


class PretrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq_len: int = 128
    batch: int = 32
    lr: float = 2e-3
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 20
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_steps: int | None = None
    train_seconds: float | None = None  # with max_steps set too, only a safety cap
    answer_only_loss: bool = False
    seed: int = 0
    threads: int | None = None  # torch threads while training; None keeps the current setting
    log_every_s: float = 10.0

    @model_validator(mode="after")
    def _needs_a_budget(self) -> "PretrainConfig":
        if self.max_steps is None and self.train_seconds is None:
            raise ValueError("set max_steps, train_seconds, or both")
        return self


@dataclass(frozen=True)
class PretrainResult:
    steps: int
    seconds: float
    tokens: int
    losses: list[float]  # one per step

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


# Role of each token in a packed row.
PAD_ROLE, PROMPT_ROLE, COMPLETION_ROLE = 0, 1, 2


def tokenize_examples(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[tuple[str, ...]]
) -> list[tuple[list[int], list[int]]]:
    """(ids, roles) per example: BOS + prompt + completion + EOS; EOS counts as completion.

    An example of more parts (prompt, completion, prompt, completion, ...: a document of several
    solved problems) is one document the same way: BOS, its parts in order, each prompt out of the
    loss and each completion in it, then EOS."""
    if any(len(e) % 2 for e in examples):
        raise ValueError("an example is (prompt, completion) pairs: an even number of parts")
    # The first prompt carries BOS; every later part is tokenised without specials (as a completion is).
    firsts = tokenizer([e[0] for e in examples], add_special_tokens=True)["input_ids"] if examples else []
    later = [part for e in examples for part in e[1:]]
    later_ids = iter(tokenizer(later, add_special_tokens=False)["input_ids"] if later else [])
    eos = tokenizer.eos_token_id
    encoded = []
    for example, first in zip(examples, firsts):
        ids, roles = list(first), [PROMPT_ROLE] * len(first)
        for j in range(1, len(example)):
            part = next(later_ids)
            ids += part
            roles += [COMPLETION_ROLE if j % 2 else PROMPT_ROLE] * len(part)
        encoded.append((ids + [eos], roles + [COMPLETION_ROLE]))
    return encoded


def _pack_epoch(
    encoded: Sequence[tuple[list[int], list[int]]], order: list[int], seq_len: int, pad_id: int
) -> tuple[list[list[int]], list[list[int]]]:
    """Rows of whole examples in `order`; an example longer than a row keeps its first seq_len tokens."""
    id_rows: list[list[int]] = [[]]
    role_rows: list[list[int]] = [[]]
    for i in order:
        ids, roles = encoded[i][0][:seq_len], encoded[i][1][:seq_len]
        if len(id_rows[-1]) + len(ids) > seq_len:
            id_rows.append([])
            role_rows.append([])
        id_rows[-1] += ids
        role_rows[-1] += roles
    for ids, roles in zip(id_rows, role_rows):
        free = seq_len - len(ids)
        ids += [pad_id] * free
        roles += [PAD_ROLE] * free
    return id_rows, role_rows


def packed_batches(
    encoded: Sequence[tuple[list[int], list[int]]], seq_len: int, batch: int, seed: int, pad_id: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (ids, roles) batches of shape (batch, seq_len), epoch after epoch."""
    if not encoded:
        raise ValueError("no training examples")
    generator = torch.Generator().manual_seed(seed)
    id_rows: list[list[int]] = []
    role_rows: list[list[int]] = []
    while True:
        while len(id_rows) < batch:
            order = torch.randperm(len(encoded), generator=generator).tolist()
            new_ids, new_roles = _pack_epoch(encoded, order, seq_len, pad_id)
            id_rows += new_ids
            role_rows += new_roles
        yield torch.tensor(id_rows[:batch]), torch.tensor(role_rows[:batch])
        del id_rows[:batch], role_rows[:batch]


def next_token_loss(model, ids: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting ids[:, t+1] at every t where target_mask[:, t+1] is set.

    The output projection runs only at those positions: with a 2k-word vocabulary it is about half
    the cost of a step, and with answer-only loss most positions are prompt.
    """
    hidden = model.get_decoder()(input_ids=ids).last_hidden_state[:, :-1]
    selected = target_mask[:, 1:].bool()
    logits = model.get_output_embeddings()(hidden[selected])
    return torch.nn.functional.cross_entropy(logits.float(), ids[:, 1:][selected])


def _lr_factor(config: PretrainConfig, step: int, elapsed: float) -> float:
    warmup = min(1.0, (step + 1) / max(1, config.warmup_steps))
    if config.schedule == "constant":
        return warmup
    # Progress by steps when there is a step budget (deterministic), else by the clock.
    if config.max_steps is not None:
        progress = step / config.max_steps
    else:
        progress = elapsed / config.train_seconds
    return warmup * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def pretrain(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[tuple[str, str]],
    config: PretrainConfig,
    label: str = "pretrain",
) -> PretrainResult:
    """Train `model` in place on the examples; prints progress to stderr every log_every_s."""
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _train_loop(model, tokenizer, examples, config, label)
    finally:
        torch.set_num_threads(previous_threads)


def _train_loop(model, tokenizer, examples, config: PretrainConfig, label: str) -> PretrainResult:
    torch.manual_seed(config.seed)
    encoded = tokenize_examples(tokenizer, examples)
    batches = packed_batches(encoded, config.seq_len, config.batch, config.seed, tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    model.train()
    losses: list[float] = []
    start = last_log = time.monotonic()
    step = 0
    while True:
        elapsed = time.monotonic() - start
        if config.max_steps is not None and step >= config.max_steps:
            break
        if config.train_seconds is not None and elapsed >= config.train_seconds:
            break
        ids, roles = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * _lr_factor(config, step, elapsed)
        targets = roles == COMPLETION_ROLE if config.answer_only_loss else roles != PAD_ROLE
        loss = next_token_loss(model, ids, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        step += 1
        now = time.monotonic()
        if now - last_log >= config.log_every_s:
            last_log = now
            rate = step * config.batch * config.seq_len / (now - start)
            print(
                f"[{label}] step {step} loss {losses[-1]:.3f} {rate:,.0f} tokens/s {now - start:.0f}s",
                file=sys.stderr,
                flush=True,
            )
    model.eval()
    seconds = time.monotonic() - start
    return PretrainResult(steps=step, seconds=seconds, tokens=step * config.batch * config.seq_len, losses=losses)
