"""What a capability is, and what every capability shares: seeded generation of distinct problems.

A capability (issue 28: Zhou et al.'s several skills) is a generator with gold in a target format of
its own, a difficulty level, a checker, and a second, corpus-only way of wording and solving its
problems (the strong student's pretraining corpus, data/capabilities/corpus.py) that never writes the
target format. Its answer is read by text/capability_answers.py (model output is only ever parsed).
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from w2s_ray.data.schema import LEVELS, Problem, content_hash
from w2s_ray.text.capability_answers import capability_answer, check_capability_answer

# A generator draws again while a question repeats; a level whose every question is taken ends there.
MAX_REDRAWS = 2000


@dataclass(frozen=True)
class CorpusDress:
    """How a corpus problem may borrow from the target, never its format or its solutions: with
    probability `target_wording` the question is in the target's sentence templates; with probability
    `target_names` a capability whose answer is a person (temporal) draws its people from the target's
    names, not the corpus's own (a student that only ever wrote the corpus's names answered every
    target question with one of them); with `options` a choice capability's target-worded question
    carries its options, as the target's does, and its prose ends "So the answer is (C) river.": the
    option's letter beside its text, as exams answer, never the target's "Choice: C" (a student whose
    corpus answered by the text alone wrote the right place after gold SFT 91 times in 100 and the
    letter of that place 19 times: bench/multicap_ceiling.py, n_strong_train=600).
    A capability ignores what it has no use for. At the defaults, a corpus is what it was before."""
    target_wording: float = 0.0
    target_names: float = 0.0
    options: bool = False


@dataclass(frozen=True)
class Capability:
    name: str
    # rng, level -> (question, target-format solution, gold answer): the target's own wording and format
    sample: Callable[[random.Random, int], tuple[str, str, str]]
    # rng, level, dress -> (question, solution) in the corpus's wordings and prose (CorpusDress: what
    # it may borrow from the target)
    corpus_sample: Callable[[random.Random, int, "CorpusDress"], tuple[str, str]]
    # what only the target format writes: a corpus that matches it has leaked the format
    target_format: re.Pattern
    # texts that together hold every word the capability writes, target and corpus (for a tokenizer)
    vocabulary: Callable[[], list[str]]
    # a choice capability: a question -> its options (the confidence loss's classes), in order
    choices: Callable[[str], tuple[str, ...]] | None = None
    # documents the corpus states whole (the facts a closed-book capability asks about)
    corpus_documents: Callable[[], list[str]] = field(default=lambda: [])
    # a question in any wording, target or corpus -> what it asks, where two wordings can ask the same
    # (commands; facts, with options or none; temporal, once the corpus may use the target's names):
    # the corpus never solves a held-out problem in other words
    problem_key: Callable[[str], str] | None = None

    def key(self, question: str) -> str:
        return self.problem_key(question) if self.problem_key else question

    def parse_answer(self, text: str) -> str:
        """A model's text -> its normalised final answer, "" where it states none in the target format
        (text/capability_answers.py: the answer_check scorer reads answers there too)."""
        return capability_answer(self.name, text)

    def check(self, gold: str | None, text: str | None) -> bool:
        """Is the final answer `text` states in the target format the gold one? False without either."""
        return check_capability_answer(self.name, gold, text)


def generate(capability: Capability, n: int, seed: int, levels: Sequence[int] = LEVELS) -> list[Problem]:
    """n distinct problems of `capability`, levels taken in turn, the same for a seed; the first m of
    generate(..., n, seed) are generate(..., m, seed), as for the arithmetic world (data/world.py)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not levels or any(level not in LEVELS for level in levels):
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {tuple(levels)}")
    rng = random.Random(f"{capability.name}:{seed}")  # str seeds are stable across processes
    seen: set[str] = set()
    problems = []
    for i in range(n):
        level = levels[i % len(levels)]
        for _ in range(MAX_REDRAWS):
            question, solution, gold = capability.sample(rng, level)
            if content_hash(question) not in seen:
                break
        else:
            raise ValueError(f"capability {capability.name!r}: no new level-{level} question in {MAX_REDRAWS} "
                             f"draws after {len(seen)} problems; ask for fewer")
        seen.add(content_hash(question))
        problems.append(Problem(id=f"{capability.name}:{content_hash(question)}", question=question, gold=gold,
                                solution=solution, level=level, source=capability.name,
                                capability=capability.name))
    return problems


def template_pattern(template: str, **groups: str) -> re.Pattern:
    """A sentence template as a regex: its text literal, each {name} the named group `groups` gives,
    so that a problem key reads exactly the sentences the generators write."""
    pattern = re.escape(template)
    for name, group in groups.items():
        pattern = pattern.replace(re.escape(f"{{{name}}}"), f"(?P<{name}>{group})")
    return re.compile(pattern)


def pick(rng: random.Random, pool: Sequence[str], k: int) -> list[str]:
    """k distinct entries of `pool`, in random order (sorted first: set order must not leak in)."""
    return rng.sample(sorted(pool), k)
