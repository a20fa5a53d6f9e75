"""Compositional commands (SCAN-like): "jump twice and walk left" -> JUMP JUMP LTURN WALK.

A phrase is a verb (walk, look, run, jump, or turn) with at most two modifiers: a direction (left,
right: turn that way first), opposite / around before it (turn twice first; turn-and-act four times),
twice / thrice after it. Level L is the composition depth: L + 1 phrases joined by L conjunctions,
read left to right, "A and B" doing A then B, "A after B" doing B then A (so "jump after walk and
run" is WALK JUMP RUN). Level 1 alone has thousands of distinct commands, so every level fills a
test split.

Target solution: each phrase on its line, "jump twice = JUMP JUMP", then "OUT: " and the actions.
The corpus asks in other words and answers in prose, the actions in lower case or upper case, never
with an "OUT:" line or a "phrase = ACTIONS" line.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from w2s_ray.data.capabilities import register_capability
from w2s_ray.data.capabilities.base import Capability, CorpusDress
from w2s_ray.data.pretrain_corpus import ANSWER_SENTENCE
from w2s_ray.text.capability_answers import COMMAND_ACTIONS, COMMANDS_MARK

NAME = "commands"
MARK = COMMANDS_MARK
VERBS = {"walk": "WALK", "look": "LOOK", "run": "RUN", "jump": "JUMP"}
TURNS = {"left": "LTURN", "right": "RTURN"}
ACTIONS = COMMAND_ACTIONS  # every action VERBS and TURNS write
REPEATS = {"twice": 2, "thrice": 3}
CONJUNCTIONS = ("and", "after")
QUESTION = 'What actions does "{cmd}" give?'
ALT_QUESTIONS = ('How do you act out the instruction "{cmd}"?', "Follow this: {cmd}. What do you do?")
_COMMAND_RE = re.compile(r'"([a-z ]+)"|^Follow this: ([a-z ]+)\. What do you do\?$')
TARGET_FORMAT = re.compile(rf"^\s*{MARK}|^[a-z ]+ = [A-Z ]+$", re.MULTILINE)


@dataclass(frozen=True)
class Phrase:
    verb: str  # a VERBS key or "turn"
    direction: str | None = None
    mode: str | None = None  # "opposite" or "around" (needs a direction)
    repeat: str | None = None

    def text(self) -> str:
        return " ".join(w for w in (self.verb, self.mode, self.direction, self.repeat) if w)

    def actions(self) -> list[str]:
        act = [] if self.verb == "turn" else [VERBS[self.verb]]
        if self.direction is None:
            once = act
        else:
            turn = [TURNS[self.direction]]
            once = {None: turn + act, "opposite": turn + turn + act, "around": (turn + act) * 4}[self.mode]
        return once * REPEATS.get(self.repeat, 1)


def sample_phrase(rng: random.Random) -> Phrase:
    """A phrase with 0-2 modifiers; turn always has a direction."""
    verb = rng.choice(sorted([*VERBS, "turn"]))
    direction = rng.choice(sorted(TURNS)) if verb == "turn" or rng.random() < 0.6 else None
    mode = rng.choice(("opposite", "around")) if direction and rng.random() < 0.4 else None
    repeat = rng.choice(sorted(REPEATS)) if not mode and rng.random() < 0.5 else None
    return Phrase(verb, direction, mode, repeat)


def compose(phrases: list[Phrase], conjunctions: list[str]) -> list[str]:
    """The actions of phrases[0] conj[0] phrases[1] conj[1] ..., read left to right."""
    out = phrases[0].actions()
    for conj, phrase in zip(conjunctions, phrases[1:]):
        out = out + phrase.actions() if conj == "and" else phrase.actions() + out
    return out


def _command(rng: random.Random, level: int) -> tuple[str, list[Phrase], list[str]]:
    phrases = [sample_phrase(rng) for _ in range(level + 1)]
    conjunctions = [rng.choice(CONJUNCTIONS) for _ in range(level)]
    words = [phrases[0].text()]
    for conj, phrase in zip(conjunctions, phrases[1:]):
        words += [conj, phrase.text()]
    return " ".join(words), phrases, compose(phrases, conjunctions)


def sample(rng: random.Random, level: int) -> tuple[str, str, str]:
    cmd, phrases, actions = _command(rng, level)
    lines = [f"{p.text()} = {' '.join(p.actions())}" for p in phrases]
    gold = " ".join(actions)
    return QUESTION.format(cmd=cmd), "\n".join([*lines, f"{MARK} {gold}"]), gold


def corpus_sample(rng: random.Random, level: int, dress: CorpusDress = CorpusDress()) -> tuple[str, str]:
    cmd, phrases, actions = _command(rng, level)
    ask = QUESTION if rng.random() < dress.target_wording else rng.choice(ALT_QUESTIONS)
    upper = rng.random() < 0.5  # half in the target's action words, half in lower-case verbs

    def spell(acts: list[str]) -> str:
        return " ".join(acts) if upper else ", ".join(a.lower() for a in acts)

    steps = [f'"{p.text()}" means {spell(p.actions())}.' for p in phrases]
    return ask.format(cmd=cmd), " ".join([*steps, ANSWER_SENTENCE.format(n=spell(actions))])


def command_of(question: str) -> str:
    """The command a question asks about, in the target's wording or the corpus's."""
    m = _COMMAND_RE.search(question)
    if m is None:
        raise ValueError(f"not a commands question: {question[:80]!r}")
    return m.group(1) or m.group(2)


def vocabulary() -> list[str]:
    words = " ".join([*VERBS, *VERBS.values(), *TURNS, *TURNS.values(), *(a.lower() for a in ACTIONS),
                      *REPEATS, *CONJUNCTIONS, "turn opposite around means"])
    return [words, QUESTION.format(cmd="x"), *(q.format(cmd="x") for q in ALT_QUESTIONS), f"{MARK} JUMP, jump."]


CAPABILITY = Capability(name=NAME, sample=sample, corpus_sample=corpus_sample, 
                        target_format=TARGET_FORMAT, vocabulary=vocabulary, problem_key=command_of)
register_capability(CAPABILITY)
