"""Multiple choice over facts (SciQ / OpenBookQA-like): where does the prey of the prey of the zorpli live?

A fixed knowledge base (KB_SEED) of made-up animals: each eats one other animal and lives in one
habitat. Questions are closed-book: the facts are never in the question, only in the pretraining
corpus (its fact sheets and solved problems state them), so a student that read the corpus has them
and a model that did not can only learn them from its labelled examples. Level L is the number of facts
chained: L - 1 "eats" hops from the named animal, then where the last one lives. Four options, (A) to
(D), the gold habitat and three others, in random order; the answer is the letter.

Target solution: one line a hop, "zorpli -> grekel", then "grekel @ sea", then "Choice: B". The corpus
asks without options and answers in prose ("The zorpli feeds on the grekel. ... So the answer is sea.").
"""
from __future__ import annotations

import functools
import random
import re

from w2s_ray.data.capabilities import register_capability
from w2s_ray.data.capabilities.base import Capability, CorpusDress, pick, template_pattern
from w2s_ray.data.pretrain_corpus import ANSWER_SENTENCE
from w2s_ray.text.capability_answers import FACTS_MARK, LETTERS

NAME = "facts"
MARK = FACTS_MARK
KB_SEED = "facts-kb:0"  # changing it changes every fact: a new knowledge base
SYLLABLES = ("zor", "pli", "gre", "tov", "mub", "kel", "dra", "fen", "quo", "sni", "vad", "lum")
HABITATS = ("sea", "desert", "forest", "cave", "river", "mountain", "swamp", "meadow")
PREY = "prey of the "
QUESTION = "Where does the {path}{animal} live? {options}"
ALT_QUESTION = "Follow the food chain from the {animal} for {hops} steps. Where does that animal live?"
ALT_HOME = "Where can you find the {animal}?"  # the corpus's level 1: no food chain to follow
EATS_SENTENCES = ("The {a} feeds on the {b}.", "The {a} hunts the {b}.")
LIVES_SENTENCES = ("The {a} makes its home in the {h}.", "You find the {a} in the {h}.")
TARGET_FORMAT = re.compile(rf"^\s*{MARK}|^\w+ -> \w+$|^\w+ @ \w+$", re.MULTILINE)
_OPTIONS_RE = re.compile(r"\(([A-D])\) ")


@functools.lru_cache(maxsize=1)
def knowledge() -> tuple[dict[str, str], dict[str, str]]:
    """(eats, lives_in): every animal eats another one (never itself) and lives in one habitat."""
    rng = random.Random(KB_SEED)
    animals = [a + b for a in SYLLABLES for b in SYLLABLES]
    lives = {a: rng.choice(HABITATS) for a in animals}
    prey = list(animals)
    while any(a == b for a, b in zip(animals, prey)):
        rng.shuffle(prey)
    return dict(zip(animals, prey)), lives


def _path(rng: random.Random, level: int) -> list[str]:
    eats, _ = knowledge()
    path = [rng.choice(sorted(eats))]
    for _ in range(level - 1):
        path.append(eats[path[-1]])
    return path


def _options(rng: random.Random, home: str) -> tuple[str, str]:
    """(the options as the question shows them, the gold's letter)."""
    options = [home, *pick(rng, [h for h in HABITATS if h != home], 3)]
    rng.shuffle(options)
    return " ".join(f"({x}) {h}" for x, h in zip(LETTERS, options)), LETTERS[options.index(home)]


def sample(rng: random.Random, level: int) -> tuple[str, str, str]:
    _, lives = knowledge()
    path = _path(rng, level)
    home = lives[path[-1]]
    shown, letter = _options(rng, home)
    question = QUESTION.format(path=PREY * (level - 1), animal=path[0], options=shown)
    lines = [f"{a} -> {b}" for a, b in zip(path, path[1:])] + [f"{path[-1]} @ {home}", f"{MARK} {letter}"]
    return question, "\n".join(lines), letter


def corpus_sample(rng: random.Random, level: int, dress: CorpusDress = CorpusDress()) -> tuple[str, str]:
    _, lives = knowledge()
    path = _path(rng, level)
    answer = home = lives[path[-1]]
    if rng.random() < dress.target_wording:  # the target's question; its options only if dressed so
        shown = ""
        if dress.options:  # answered as an exam answers: the option's letter and its text, in prose
            shown, letter = _options(rng, home)
            answer = f"({letter}) {home}"
        question = QUESTION.format(path=PREY * (level - 1), animal=path[0], options=shown).strip()
    else:
        question = (ALT_QUESTION if level > 1 else ALT_HOME).format(animal=path[0], hops=level - 1)
    prose = [rng.choice(EATS_SENTENCES).format(a=a, b=b) for a, b in zip(path, path[1:])]
    prose.append(rng.choice(LIVES_SENTENCES).format(a=path[-1], h=home))
    return question, " ".join([*prose, ANSWER_SENTENCE.format(n=answer)])


# Each wording's pattern, read from its template (the target's without its options: either way).
_ASKS = [(template_pattern(QUESTION.removesuffix(" {options}"), path=f"(?:{PREY})*", animal=r"\w+"),
          lambda m: (m["animal"], m["path"].count(PREY))),
         (template_pattern(ALT_QUESTION, animal=r"\w+", hops=r"\d+"), lambda m: (m["animal"], int(m["hops"]))),
         (template_pattern(ALT_HOME, animal=r"\w+"), lambda m: (m["animal"], 0))]


def problem_key(question: str) -> str:
    """What a question asks in any wording, options or none: the animal and the hops from it. Without
    it a held-out question was solved in the corpus whenever its wording differed (the corpus asks
    without options, or in its own sentences), and with 144 animals the corpus asks nearly all."""
    for pattern, read in _ASKS:
        m = pattern.search(question)
        if m:
            animal, hops = read(m)
            return f"{animal}+{hops}"
    raise ValueError(f"not a facts question: {question[-80:]!r}")


def fact_sheets() -> list[str]:
    """One document an animal, stating both its facts (in the corpus's own sentences)."""
    eats, lives = knowledge()
    return [f"About the {a}: {EATS_SENTENCES[0].format(a=a, b=eats[a])} "
            f"{LIVES_SENTENCES[0].format(a=a, h=lives[a])}" for a in sorted(eats)]


def choices(question: str) -> tuple[str, ...]:
    found = tuple(_OPTIONS_RE.findall(question))
    if found != LETTERS:
        raise ValueError(f"not a facts question with options (A)-(D): {question[-80:]!r}")
    return found


def vocabulary() -> list[str]:
    eats, _ = knowledge()
    words = " ".join([*eats, *HABITATS, *LETTERS, "About the"])
    templates = [QUESTION.format(path=PREY, animal="x", options="(A) sea"), ALT_QUESTION, ALT_HOME, *EATS_SENTENCES,
                 *LIVES_SENTENCES, f"{MARK} A\nx -> y\nx @ sea"]
    return [words, *(t.format(a="x", b="y", h="sea", animal="x", hops=1) for t in templates)]


CAPABILITY = Capability(name=NAME, sample=sample, corpus_sample=corpus_sample, 
                        target_format=TARGET_FORMAT, vocabulary=vocabulary, choices=choices,
                        corpus_documents=fact_sheets, problem_key=problem_key)
register_capability(CAPABILITY)
