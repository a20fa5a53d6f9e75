"""Logic (e-SNLI-like, with rules): does "Tom is a fep" follow? yes / no / unknown.

Level L is the number of inference steps: Tom is a c0, and L rules lead c0 -> c1 -> ... -> cL.
  yes      every rule "Every c(i) is a c(i+1)."
  no       the last one is "No c(L-1) is a cL." (so Tom is not a cL)
  unknown  the last one is turned round, "Every cL is a c(L-1).", which does not lead to cL
Every problem also holds three rules that change nothing and mention the chain ("Every d1 is a cL.",
"No d2 is a c(i).", "Every cL is a d3.": Tom is neither d1 nor d2), so neither where the asked word
stands in a rule nor a "No" rule gives the verdict away; rules come shuffled. The three verdicts are drawn equally often.

Target solution: one line per step taken, "Tom is a c1", (for no: "Tom is not a cL"), then
"Verdict: yes". The corpus uses other names and sentences and answers in prose.
"""
from __future__ import annotations

import random
import re

from w2s_ray.data import world
from w2s_ray.data.capabilities import register_capability
from w2s_ray.data.capabilities.base import Capability, CorpusDress, pick
from w2s_ray.data.pretrain_corpus import ALT_NAMES, ANSWER_SENTENCE
from w2s_ray.text.capability_answers import LOGIC_MARK, VERDICTS

NAME = "logic"
MARK = LOGIC_MARK
CATEGORIES = ("wug", "dax", "fep", "blick", "toma", "zib", "mork", "lorp", "quil", "vex", "nib", "tam",
              "grop", "sprak")
FACT, EVERY, NO, QUESTION = "{name} is a {c}.", "Every {c} is a {d}.", "No {c} is a {d}.", "Is {name} a {d}?"
ALT_FACT, ALT_EVERY, ALT_NO = "{name} belongs to the {c} kind.", "Anything that is a {c} is also a {d}.", \
    "Nothing that is a {c} is a {d}."
ALT_QUESTION = "Does it follow that {name} is a {d}?"
TARGET_FORMAT = re.compile(rf"^\s*{MARK}|^\w+ is (?:not )?a \w+$", re.MULTILINE)


def _draw(rng: random.Random, level: int, names):
    """(name, chain c0..cL, distractors d1 d2, verdict, rules as (kind, c, d))."""
    name = rng.choice(sorted(names))
    cats = pick(rng, CATEGORIES, level + 4)
    chain, (d1, d2, d3) = cats[: level + 1], cats[level + 1:]
    verdict = rng.choice(VERDICTS)
    rules = [("every", chain[i], chain[i + 1]) for i in range(level - 1)]
    rules.append({"yes": ("every", chain[-2], chain[-1]), "no": ("no", chain[-2], chain[-1]),
                  "unknown": ("every", chain[-1], chain[-2])}[verdict])
    rules += [("every", d1, chain[-1]), ("no", d2, rng.choice(chain[1:])), ("every", chain[-1], d3)]
    rng.shuffle(rules)
    return name, chain, verdict, rules


def _steps(name: str, chain: list[str], verdict: str) -> list[str]:
    """The categories the name is shown to be in, one a step."""
    reached = chain[1:] if verdict == "yes" else chain[1:-1]
    return [f"{name} is a {c}" for c in reached]


def sample(rng: random.Random, level: int) -> tuple[str, str, str]:
    name, chain, verdict, rules = _draw(rng, level, world.NAMES)
    sentences = [FACT.format(name=name, c=chain[0])]
    sentences += [(EVERY if kind == "every" else NO).format(c=c, d=d) for kind, c, d in rules]
    sentences.append(QUESTION.format(name=name, d=chain[-1]))
    lines = _steps(name, chain, verdict) + ([f"{name} is not a {chain[-1]}"] if verdict == "no" else [])
    return " ".join(sentences), "\n".join([*lines, f"{MARK} {verdict}"]), verdict


def corpus_sample(rng: random.Random, level: int, dress: CorpusDress = CorpusDress()) -> tuple[str, str]:
    name, chain, verdict, rules = _draw(rng, level, ALT_NAMES)
    target = rng.random() < dress.target_wording
    fact, every, no, ask = (FACT, EVERY, NO, QUESTION) if target else (ALT_FACT, ALT_EVERY, ALT_NO, ALT_QUESTION)
    sentences = [fact.format(name=name, c=chain[0])]
    sentences += [(every if kind == "every" else no).format(c=c, d=d) for kind, c, d in rules]
    sentences.append(ask.format(name=name, d=chain[-1]))
    prose = [f"So {step}." for step in _steps(name, chain, verdict)]
    if verdict == "no":
        prose.append(f"Nothing that is a {chain[-2]} is a {chain[-1]}, so {name} is not a {chain[-1]}.")
    elif verdict == "unknown":
        prose.append(f"No rule leads from {chain[-2]} to {chain[-1]}.")
    return " ".join(sentences), " ".join([*prose, ANSWER_SENTENCE.format(n=verdict)])


def vocabulary() -> list[str]:
    words = " ".join([*world.NAMES, *ALT_NAMES, *CATEGORIES, *VERDICTS, "So so not rule leads from to"])
    templates = [FACT, EVERY, NO, QUESTION, ALT_FACT, ALT_EVERY, ALT_NO, ALT_QUESTION, f"{MARK} yes"]
    return [words, *(t.format(name="Tom", c="wug", d="dax") for t in templates)]


CAPABILITY = Capability(name=NAME, sample=sample, corpus_sample=corpus_sample,
                        target_format=TARGET_FORMAT,
                        vocabulary=vocabulary, choices=lambda question: VERDICTS)
register_capability(CAPABILITY)
