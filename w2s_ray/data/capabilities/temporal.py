"""Temporal ordering (MC-TACO-like): who arrived first, from before/after statements.

Level L: the two people asked about are L "arrived before" links apart. The chain runs one person past
each of them, so both appear on both sides of a statement and neither can be picked without following
the chain (the person never said to arrive after anyone is not one of the two asked). Statements come
shuffled, each as "A arrived before B" or "B arrived after A".

Target solution, on one line as the corpus lays its sentences out: every statement restated "A < B."
(earlier first), in the question's order; "--"; then the walk from the first person asked along the
restated links, "A < B." a step, to the other person asked or to the chain's end ("Z < none."); then,
on a line of its own, "=> A". The corpus words the same ordering problems with other names and verbs
and solves them the same way in prose ("Eli came before Ada. ... So: Ada came before Eli. ... So the
answer is Ada."); it never writes "<", "--" or "=>".

Why the restating (issue 28): a model of the student's size does not learn to answer from the shuffled
two-direction statements, at level 1 either. Fresh 0.92 M-parameter models trained on 96,000 level-1
problems answered 33 of 60 (chance 30) with the answer first, and on levels 1-5 the walk without the
restating was at chance too; with every statement restated first, the walk's lookups are of lines in
the same words (what an induction head does) and the same model answered 177 of 180 on levels 1-3
(bench/temporal_learnability.py: answer_first / walk / normalize_walk, --fresh 96,4,4).

Why one line (issue 28): with "A < B" one a line, gold SFT kept the restating but not the walk that the
student has in prose. world-student-multicap-t64, which walks right 75 times in 100 in prose, walked
right 10 after SFT on 2,400 gold rows of the line-a-step layout and 96 after the same SFT on this
one-line layout (answers right 54 and 98, +44.0 [+34.0, +54.0] paired; 2,400 rows in the corpus's own
prose kept 73: bench/temporal_sft.py).
"""
from __future__ import annotations

import random
import re

from w2s_ray.data import world
from w2s_ray.data.capabilities import register_capability
from w2s_ray.data.capabilities.base import Capability, CorpusDress, pick, template_pattern
from w2s_ray.data.pretrain_corpus import ALT_NAMES, ANSWER_SENTENCE
from w2s_ray.text.capability_answers import TEMPORAL_MARK

NAME = "temporal"
MARK = TEMPORAL_MARK
BEFORE = ("{a} arrived before {b}.",)
AFTER = ("{b} arrived after {a}.",)
QUESTION = "Who arrived first, {x} or {y}?"
ALT_BEFORE = ("{a} came in earlier than {b}.", "{a} got there before {b} did.")
ALT_AFTER = ("{b} showed up later than {a}.", "{b} turned up after {a}.")
ALT_QUESTIONS = ("Of {x} and {y}, who came in earlier?", "Which of {x} and {y} got there first?")
_QUESTION_RE = re.compile(r"Who arrived first, (\w+) or (\w+)\?$")
TARGET_FORMAT = re.compile(rf"^\s*{MARK} \w+\s*$|\b[A-Z]\w* < (?:[A-Z]\w*|none)\.|(?:^|\s)--(?:\s|$)", re.MULTILINE)


def _chain(rng: random.Random, level: int, names) -> list[str]:
    return pick(rng, names, level + 3)  # in arrival order


def _statements(rng: random.Random, order: list[str], before, after) -> tuple[list[tuple[str, str]], list[str]]:
    """(the links (earlier, later) in the order stated, their statements)."""
    links = [(order[i], order[i + 1]) for i in range(len(order) - 1)]
    rng.shuffle(links)
    return links, [rng.choice(before if rng.random() < 0.5 else after).format(a=a, b=b) for a, b in links]


def _walk(order: list[str], x: str, y: str) -> list[tuple[str, str | None]]:
    """The links from x onwards, to y or to the chain's end (its last person, then None)."""
    i, steps = order.index(x), []
    while i + 1 < len(order) and order[i] != y:
        steps.append((order[i], order[i + 1]))
        i += 1
    if order[i] != y:
        steps.append((order[i], None))
    return steps


def _asked(rng: random.Random, order: list[str], level: int) -> tuple[str, str, str, str]:
    """(first asked, second asked, the earlier, the later): persons 1 and level+1 of the chain."""
    early, late = order[1], order[level + 1]
    x, y = (early, late) if rng.random() < 0.5 else (late, early)
    return x, y, early, late


def sample(rng: random.Random, level: int) -> tuple[str, str, str]:
    order = _chain(rng, level, world.NAMES)
    links, sentences = _statements(rng, order, BEFORE, AFTER)
    x, y, early, _ = _asked(rng, order, level)
    question = " ".join([*sentences, QUESTION.format(x=x, y=y)])
    restated = [f"{a} < {b}." for a, b in links]
    walk = [f"{a} < {b or 'none'}." for a, b in _walk(order, x, y)]
    return question, " ".join([*restated, "--", *walk]) + f"\n{MARK} {early}", early


def corpus_sample(rng: random.Random, level: int, dress: CorpusDress = CorpusDress()) -> tuple[str, str]:
    # drawn only when asked for, so that a corpus without target names is what it was
    names = world.NAMES if dress.target_names and rng.random() < dress.target_names else ALT_NAMES
    order = _chain(rng, level, names)
    target = rng.random() < dress.target_wording
    links, sentences = _statements(rng, order, BEFORE if target else ALT_BEFORE, AFTER if target else ALT_AFTER)
    x, y, early, _ = _asked(rng, order, level)
    ask = QUESTION if target else rng.choice(ALT_QUESTIONS)
    restated = [f"{a} came before {b}." for a, b in links]
    walk = [f"{a} came before {b}." if b else f"No one came after {a}." for a, b in _walk(order, x, y)]
    return (" ".join([*sentences, ask.format(x=x, y=y)]),
            " ".join([*restated, "So:", *walk, ANSWER_SENTENCE.format(n=early)]))


_LINK_RES = [template_pattern(t, a=r"\w+", b=r"\w+") for t in (*BEFORE, *AFTER, *ALT_BEFORE, *ALT_AFTER)]
_ASK_RES = [template_pattern(t, x=r"\w+", y=r"\w+") for t in (QUESTION, *ALT_QUESTIONS)]


def problem_key(question: str) -> str:
    """What a question asks in any wording: its before-links and the two people asked about. With the
    target's names in the corpus (CorpusDress.target_names), a corpus problem could otherwise ask a
    held-out one in other sentences."""
    links = sorted({(m["a"], m["b"]) for r in _LINK_RES for m in r.finditer(question)})
    asked = [m for r in _ASK_RES for m in r.finditer(question)]
    if not links or len(asked) != 1:
        raise ValueError(f"not a temporal question: {question[-80:]!r}")
    pair = sorted((asked[0]["x"], asked[0]["y"]))
    return " ".join(f"{a}<{b}" for a, b in links) + " ? " + " ".join(pair)


def choices(question: str) -> tuple[str, ...]:
    m = _QUESTION_RE.search(question.strip())
    if m is None:
        raise ValueError(f"not a temporal question: {question[-80:]!r}")
    return m.group(1), m.group(2)


def vocabulary() -> list[str]:
    names = " ".join([*world.NAMES, *ALT_NAMES])
    templates = [*BEFORE, *AFTER, QUESTION, *ALT_BEFORE, *ALT_AFTER, *ALT_QUESTIONS]
    return [names, *(t.format(a="A", b="B", x="A", y="B") for t in templates),
            "A came before B. So: No one came after B.", f"A < B\n--\nB < none\n{MARK} A"]


CAPABILITY = Capability(name=NAME, sample=sample, corpus_sample=corpus_sample,
                        target_format=TARGET_FORMAT,
                        vocabulary=vocabulary, choices=choices, problem_key=problem_key)
register_capability(CAPABILITY)
