"""A demo-world problem read back into the generator's own structure (data/world.py): who, what, the
start value, and one (sentence, step) per reasoning step. World problems are built from fixed
templates, so the reading is exact or it refuses (WorldChainError): nothing is guessed.

Supervision recipes use it to cut a span of steps out of a problem and pose it as a problem of its
own (`pose_span`: its start value is the span's first left operand, its answer the span's last
result) and to reword a problem without changing its solution (`rephrase`).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from w2s_ray.data.world import (
    FINAL_MARK,
    NAMES,
    QUESTION_TEMPLATE,
    START_TEMPLATE,
    STEP_TEMPLATES,
    Step,
    apply_op,
)

_SENTENCE_RE = re.compile(r"(?<=[.?]) ")
_START_RE = re.compile(r"^(\w+) has (\d+) (\w+)\.$")
_LINE_RE = re.compile(r"^(\d+) ([-+*/]) (\d+) = (\d+)$")


class WorldChainError(ValueError):
    """The text is not a demo-world problem or solution as data/world.py writes them."""


@dataclass(frozen=True)
class WorldChain:
    name: str
    items: str
    start: int
    steps: tuple[Step, ...]
    templates: tuple[int, ...]  # per step: the index of its sentence in STEP_TEMPLATES[op]

    @property
    def pron(self) -> str:
        return NAMES[self.name]

    def question(self, start: int | None = None, steps: tuple[Step, ...] | None = None,
                 templates: tuple[int, ...] | None = None) -> str:
        steps = self.steps if steps is None else steps
        templates = self.templates if templates is None else templates
        sentences = [START_TEMPLATE.format(name=self.name, k=self.start if start is None else start, items=self.items)]
        sentences += [STEP_TEMPLATES[s.op][t].format(pron=self.pron, k=s.right, items=self.items)
                      for s, t in zip(steps, templates)]
        sentences.append(QUESTION_TEMPLATE.format(items=self.items, name=self.name))
        return " ".join(sentences)


def parse_step_line(line: str) -> Step:
    m = _LINE_RE.match(line.strip())
    if not m:
        raise WorldChainError(f"not a world step line: {line!r}")
    return Step(int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)))


def solution_text(steps: tuple[Step, ...] | list[Step], answer: int | None = None) -> str:
    """A world solution: one "a op b = c" line per step, then "#### answer" (the last result unless given)."""
    final = steps[-1].result if answer is None else answer
    return "\n".join([s.line() for s in steps] + [f"{FINAL_MARK} {final}"])


def read_chain(question: str, solution: str) -> WorldChain:
    """The chain behind a world problem; WorldChainError where the question or its gold solution is
    not what the generator writes (another wording, a step that does not follow from the previous)."""
    sentences = _SENTENCE_RE.split(question.strip())
    start = _START_RE.match(sentences[0]) if sentences else None
    if start is None or start.group(1) not in NAMES:
        raise WorldChainError(f"question does not open with a world start sentence: {question[:80]!r}")
    name, value, items = start.group(1), int(start.group(2)), start.group(3)
    if sentences[-1] != QUESTION_TEMPLATE.format(items=items, name=name):
        raise WorldChainError(f"question does not end with the world's question: {sentences[-1]!r}")
    lines = [line for line in solution.strip().split("\n") if line.strip()]
    if not lines or not lines[-1].startswith(FINAL_MARK):
        raise WorldChainError("solution has no final '####' line")
    steps = tuple(parse_step_line(line) for line in lines[:-1])
    if len(steps) != len(sentences) - 2:
        raise WorldChainError(f"{len(sentences) - 2} step sentences but {len(steps)} solution lines")
    total, templates = value, []
    for sentence, step in zip(sentences[1:-1], steps):
        if step.left != total or apply_op(step.left, step.op, step.right) != step.result:
            raise WorldChainError(f"solution line {step.line()!r} does not follow from {total}")
        wordings = [t.format(pron=NAMES[name], k=step.right, items=items) for t in STEP_TEMPLATES[step.op]]
        if sentence not in wordings:
            raise WorldChainError(f"sentence {sentence!r} is not a world wording of {step.line()!r}")
        templates.append(wordings.index(sentence))
        total = step.result
    if lines[-1] != f"{FINAL_MARK} {total}":
        raise WorldChainError(f"final line {lines[-1]!r} is not the chain's result {total}")
    return WorldChain(name, items, value, steps, tuple(templates))


def pose_span(chain: WorldChain, i: int, j: int) -> tuple[str, tuple[Step, ...]]:
    """Steps i..j-1 as a problem of their own: it starts from step i's left operand and asks for step
    j-1's result, worded with the same sentences. Returns (question, its gold steps)."""
    if not 0 <= i < j <= len(chain.steps):
        raise ValueError(f"span [{i}, {j}) is not inside a chain of {len(chain.steps)} steps")
    steps = chain.steps[i:j]
    return chain.question(start=steps[0].left, steps=steps, templates=chain.templates[i:j]), steps


def rephrase(chain: WorldChain, rng: random.Random) -> str:
    """The same problem in other words: every step sentence in another of its operator's wordings
    (each has at least two), so the solution is unchanged."""
    templates = tuple(rng.choice([t for t in range(len(STEP_TEMPLATES[s.op])) if t != current])
                      for s, current in zip(chain.steps, chain.templates))
    return chain.question(templates=templates)


def propagate(steps: tuple[Step, ...], at: int, wrong_result: int, max_value: int) -> tuple[Step, ...] | None:
    """The chain with step `at` ending in `wrong_result` and every later step redone, correctly, from
    it (the error propagates); None where a later step leaves 1..max_value or a division is not exact."""
    out = list(steps[:at]) + [Step(steps[at].left, steps[at].op, steps[at].right, wrong_result)]
    total = wrong_result
    for step in steps[at + 1:]:
        if step.op == "/" and total % step.right:
            return None
        result = apply_op(total, step.op, step.right)
        if not 1 <= result <= max_value:
            return None
        out.append(Step(total, step.op, step.right, result))
        total = result
    return tuple(out)
