"""Prompt formats: the one zero-shot template of METHODS.md, k-shot prompts built on it, and the
completion a model is trained to write after it (" " + solution; EOS is added at tokenization).

Demonstrations are drawn per problem from a pool with a generator seeded by (seed, problem id), so a
problem's prompt is the same on every run and every worker, and never shows the problem itself.
A `FixedDemos` pool is instead one set shown whole, in its order, before every question (the authors'
of Weak-to-Strong Reasoning: their prompt/demonstrations.py), its own questions included.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

TEMPLATE = "Question: {question}\nAnswer:"
SHOT_SEPARATOR = "\n\n"


def zero_shot(question: str) -> str:
    return TEMPLATE.format(question=question)


def completion_text(solution: str) -> str:
    """What a model should write after the zero-shot prompt (EOS is added at tokenization)."""
    return " " + solution


def worked_example(question: str, solution: str) -> str:
    return f"{zero_shot(question)} {solution.strip()}"


class FixedDemos(tuple):
    """A demonstration set every problem sees, in this order (its first `shots`), never re-drawn."""


def _rng(seed: int, problem_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def pick_demos(pool: Sequence[dict], k: int, problem_id: str, seed: int) -> list[dict]:
    """k demos ({question, solution}) for one problem; never the problem itself."""
    candidates = [d for d in pool if d.get("id") != problem_id]
    if k > len(candidates):
        raise ValueError(f"{k}-shot prompts need at least {k} demonstrations, the pool has {len(candidates)}")
    return _rng(seed, problem_id).sample(candidates, k)


def few_shot(question: str, demos: Sequence[dict]) -> str:
    shots = [worked_example(d["question"], d["solution"]) for d in demos]
    return SHOT_SEPARATOR.join([*shots, zero_shot(question)])


def build_prompt(problem: dict, shots: int, pool: Sequence[dict] | None, seed: int) -> str:
    if shots == 0:
        return zero_shot(problem["question"])
    if not pool:
        raise ValueError(f"{shots}-shot prompts need a demonstration pool; none was given")
    if isinstance(pool, FixedDemos):
        if shots > len(pool):
            raise ValueError(f"{shots}-shot prompts need at least {shots} demonstrations, the fixed set has {len(pool)}")
        return few_shot(problem["question"], pool[:shots])
    return few_shot(problem["question"], pick_demos(pool, shots, problem["id"], seed))
