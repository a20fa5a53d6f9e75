"""The strong student's pretraining corpus for the capabilities beyond arithmetic: each one's skill in
another dress, as data/pretrain_corpus.py is for arithmetic.

Per capability: solved problems worded the corpus's way (other names and sentences; with probability
`target_wording` the target's sentences, with `target_names` temporal's people from the target's
names, with `options` facts' target-worded questions with their options: base.CorpusDress) and
solved in prose ending "So the answer is X.", each in one of the corpus frames; the capability's documents (the facts capability's fact
sheets), `document_repeats` times; and the train-split target questions without solutions. The loss
goes where pretrain_corpus puts it: on solutions, documents and unlabelled questions.

It never holds any capability's target format, nor a held-out (strong-half or test) problem solved,
in any wording: a corpus problem that asks what a held-out one asks (Capability.key) is drawn again.
`leaks` checks a corpus for both.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from w2s_ray.data.capabilities import capability_names, check_names, get_capability
from w2s_ray.data.capabilities.base import Capability, CorpusDress
from w2s_ray.data.pretrain_corpus import (
    ANSWER_SENTENCE,
    FRAMES,
    TARGET_STEP_LINE,
    UNLABELLED_PREFIX,
    Example,
    questions_of,
)
from w2s_ray.data.schema import ARITHMETIC, Problem, capability_of
from w2s_ray.data.world import FINAL_MARK


@dataclass(frozen=True)
class CapabilityCorpusSpec:
    capabilities: tuple[str, ...]  # besides arithmetic (whose corpus is data/pretrain_corpus.py's)
    n_problems: int = 4000  # solved documents per capability
    n_problems_for: tuple[tuple[str, int], ...] = ()  # (capability, its own count) where it differs
    levels: tuple[int, ...] = (1, 2, 3, 4, 5, 6)  # one past the target's, as the arithmetic corpus
    target_wording: float = 0.5
    target_names: float = 0.0  # CorpusDress: what a corpus problem may borrow from the target
    options: bool = False
    document_repeats: int = 4
    seed: int = 0

    def __post_init__(self):
        if ARITHMETIC in check_names(self.capabilities):
            raise ValueError("arithmetic's corpus is data/pretrain_corpus.py's; name only the other capabilities")
        if unknown := {name for name, _ in self.n_problems_for} - set(self.capabilities):
            raise ValueError(f"n_problems_for names {sorted(unknown)}, not among the corpus's {self.capabilities}")


def _key(capability: Capability, question: str) -> str:
    """What `question` asks under `capability`, or the question itself where it is not that capability's."""
    try:
        return capability.key(question)
    except ValueError:
        return question


def _held_keys(held_out: Sequence[Problem]) -> dict[str, dict[str, Problem]]:
    """capability -> {what a held-out problem asks: the problem}."""
    held: dict[str, dict[str, Problem]] = {}
    for p in held_out:
        name = capability_of(p)
        if name != ARITHMETIC:
            held.setdefault(name, {})[get_capability(name).key(p.question)] = p
    return held


def build_capability_corpus(spec: CapabilityCorpusSpec, unlabelled: Sequence[Problem],
                            held_out: Sequence[Problem] = ()) -> list[Example]:
    """The corpus of spec.capabilities; only the question text of `unlabelled` is read (the caller
    passes train-split questions only), and those of other capabilities are skipped."""
    held = _held_keys(held_out)
    examples: list[Example] = []
    dress = CorpusDress(spec.target_wording, spec.target_names, spec.options)
    for name in spec.capabilities:
        capability, keys = get_capability(name), held.get(name, {})
        rng = random.Random(f"corpus:{spec.seed}:{name}")
        solved = 0
        while solved < dict(spec.n_problems_for).get(name, spec.n_problems):
            question, solution = capability.corpus_sample(rng, rng.choice(spec.levels), dress)
            if capability.key(question) in keys:
                continue
            ask, answer = rng.choice(FRAMES)
            examples.append((f"{ask} {question}\n{answer}", f" {solution}"))
            solved += 1
        examples += [("", document) for document in capability.corpus_documents()] * spec.document_repeats
    examples += [("", f"{UNLABELLED_PREFIX} {p.question}") for p in unlabelled if capability_of(p) in spec.capabilities]
    random.Random(f"corpus:{spec.seed}:order").shuffle(examples)
    return examples


def leaks(examples: Sequence[Example], held_out: Sequence[Problem]) -> list[str]:
    """Why `examples` would leak a target: any capability's target format (arithmetic's included), or
    a held-out problem of a capability asked in a solved problem (in any wording) or shown with its
    target solution or its answer sentence in the same document."""
    formats = [(name, get_capability(name).target_format) for name in capability_names() if name != ARITHMETIC]
    held = _held_keys(held_out)
    found = []
    for i, example in enumerate(examples):
        text = "".join(example)
        if FINAL_MARK in text or TARGET_STEP_LINE.search(text):
            found.append(f"example {i}: holds the arithmetic target format")
        found += [f"example {i}: holds the {name} target format" for name, pattern in formats if pattern.search(text)]
        solved = any(context for context in example[::2])
        for question in questions_of(example):
            for name, keys in held.items():
                problem = keys.get(_key(get_capability(name), question))
                if problem and (solved or (problem.solution and problem.solution in text)
                                or ANSWER_SENTENCE.format(n=problem.gold) in text):
                    found.append(f"example {i}: holds held-out {name} problem {problem.id} with its solution")
    return found
