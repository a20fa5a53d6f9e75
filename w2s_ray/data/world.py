"""The demo reasoning world: seeded multi-step arithmetic word problems in GSM8K format.

Level L (1-5) is the number of reasoning steps. The world is built to be learnable by a tiny model
with a word-level tokenizer in which every number is one token: a closed vocabulary, fixed
sentence templates, and bare solution lines "a op b = c" followed by "#### c".

Every value (operands, intermediate totals, answers) is an integer in 1..MAX_VALUE (40), so that no
chain collapses to a trivial zero and arithmetic is a table a small model learns: the skill that
separates a strong model from a weak one is chaining steps, not memorising products (difficulty =
number of steps). A chain (`sample_chain`) is sampled apart from its wording, so the strong
student's pretraining corpus (data/pretrain_corpus.py) words chains of the same world its own way.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from w2s_ray.data.schema import LEVELS, Problem, content_hash

MAX_VALUE = 40
START_RANGE = (2, 20)
ADD_SUB_RANGE = (1, 12)
FACTOR_RANGE = (2, 3)  # multipliers and divisors

NAMES = {
    "Mia": "She", "Emma": "She", "Olivia": "She", "Ava": "She", "Sofia": "She",
    "Lily": "She", "Chloe": "She", "Grace": "She", "Nora": "She", "Ruby": "She",
    "Liam": "He", "Noah": "He", "Leo": "He", "Jack": "He", "Owen": "He",
    "Sam": "He", "Ben": "He", "Max": "He", "Tom": "He", "Luke": "He",
}
ITEMS = (
    "marbles", "apples", "stickers", "books", "coins", "pencils", "cards", "shells",
    "stamps", "cookies", "beads", "balloons", "toys", "flowers", "stones",
)

START_TEMPLATE = "{name} has {k} {items}."
QUESTION_TEMPLATE = "How many {items} does {name} have now?"
# Every step sentence starts with the pronoun, so it is always capitalised: one token per pronoun.
STEP_TEMPLATES = {
    "+": (
        "{pron} finds {k} more {items}.",
        "{pron} buys {k} more {items}.",
        "{pron} gets {k} more {items}.",
    ),
    "-": (
        "{pron} gives away {k} {items}.",
        "{pron} loses {k} {items}.",
        "{pron} uses {k} {items}.",
    ),
    "*": (
        "{pron} ends up with {k} times as many {items}.",
        "{pron} now has {k} times as many {items}.",
    ),
    "/": (
        "{pron} splits the {items} into {k} equal groups and keeps one group.",
        "{pron} divides the {items} into {k} equal piles and keeps one pile.",
    ),
}
FINAL_MARK = "####"


@dataclass(frozen=True)
class Step:
    left: int
    op: str
    right: int
    result: int

    def line(self) -> str:
        return f"{self.left} {self.op} {self.right} = {self.result}"


def _operand_choices(total: int) -> dict[str, list[int]]:
    """Every operand that keeps the next total in 1..MAX_VALUE, by operator; empty lists dropped."""
    lo, hi = ADD_SUB_RANGE
    f_lo, f_hi = FACTOR_RANGE
    choices = {
        "+": list(range(lo, min(hi, MAX_VALUE - total) + 1)),
        "-": list(range(lo, min(hi, total - 1) + 1)),
        "*": [k for k in range(f_lo, f_hi + 1) if total * k <= MAX_VALUE],
        "/": [k for k in range(f_lo, f_hi + 1) if total % k == 0],
    }
    return {op: ks for op, ks in choices.items() if ks}


def apply_op(total: int, op: str, k: int) -> int:
    """One step of the world's arithmetic ("/" is integer division; the world only draws exact ones)."""
    if op == "+":
        return total + k
    if op == "-":
        return total - k
    if op == "*":
        return total * k
    return total // k


def sample_chain(rng: random.Random, level: int) -> tuple[int, list[Step]]:
    """A start value and `level` steps, each working on the previous result."""
    total = rng.randint(*START_RANGE)
    start, steps = total, []
    for _ in range(level):
        # Operator first, then operand: every operator stays equally likely whatever the total.
        choices = _operand_choices(total)
        op = rng.choice(sorted(choices))
        k = rng.choice(choices[op])
        result = apply_op(total, op, k)
        steps.append(Step(total, op, k, result))
        total = result
    return start, steps


def _sample_problem(rng: random.Random, level: int) -> Problem:
    name = rng.choice(sorted(NAMES))
    pron = NAMES[name]
    items = rng.choice(ITEMS)
    start, steps = sample_chain(rng, level)
    sentences = [START_TEMPLATE.format(name=name, k=start, items=items)]
    for step in steps:
        template = rng.choice(STEP_TEMPLATES[step.op])
        sentences.append(template.format(pron=pron, k=step.right, items=items))
    sentences.append(QUESTION_TEMPLATE.format(items=items, name=name))
    question = " ".join(sentences)
    total = steps[-1].result if steps else start
    solution = "\n".join([s.line() for s in steps] + [f"{FINAL_MARK} {total}"])
    return Problem(
        id=f"world:{content_hash(question)}",
        question=question,
        gold=str(total),
        solution=solution,
        level=level,
        source="world",
    )


def generate_world(n: int, seed: int, levels: tuple[int, ...] = LEVELS) -> list[Problem]:
    """n distinct problems, levels taken in turn (so counts differ by at most one), same for a seed.

    The first m problems of generate_world(n, seed) are generate_world(m, seed) for m <= n.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not levels or any(level not in LEVELS for level in levels):
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {levels}")
    rng = random.Random(seed)
    seen: set[str] = set()
    problems = []
    for i in range(n):
        level = levels[i % len(levels)]
        problem = _sample_problem(rng, level)
        while content_hash(problem.question) in seen:
            problem = _sample_problem(rng, level)
        seen.add(content_hash(problem.question))
        problems.append(problem)
    return problems


def vocabulary_texts() -> list[str]:
    """Texts that together hold every word and symbol the world can emit, numbers aside.

    A tokenizer builder takes its closed vocabulary from these plus the numbers 0..MAX_VALUE.
    """
    texts = []
    for name, pron in NAMES.items():
        for items in ITEMS:
            texts.append(START_TEMPLATE.format(name=name, k=1, items=items))
            texts.append(QUESTION_TEMPLATE.format(items=items, name=name))
    for pron in sorted(set(NAMES.values())):
        for items in ITEMS:
            for templates in STEP_TEMPLATES.values():
                texts.extend(
                    t.format(pron=pron, k=1, items=items) for t in templates
                )
    texts.append("\n".join(Step(1, op, 1, 1).line() for op in STEP_TEMPLATES) + f"\n{FINAL_MARK} 1")
    return texts
