"""Synthetic solution formats for format worksheets: each worksheet draws one, at random, and writes
every problem in it, so that across documents the only way to predict a solution's format is to copy
it from the solved problems before it in the same document (issue 26, difference 7).

Why: a student pretrained on worksheets in its own four styles (`SOLUTION_STYLES`) learnt to use
demos in those styles, but target-format demos still made it far worse than zero-shot: it had never
had to follow a format it did not already know. Here the format space is large (step templates,
operators in symbols or words, line ends, separators, an optional opening, answer markers made of
random punctuation), so a format is rarely seen twice and has to be read off the page.

A drawn format is never the target's: no "#" anywhere (the target's marker is "####"), and a draw
whose step line has the target's shape ("a op b = c" alone on a line) is drawn again. With
`hash_markers`, "#" may be in a marker ("#", "##", "###", "#*#", ...), and runs of one character
("!!!!", "**") are common, so that a student learns to copy the marker the earlier problems used
however much it looks like the target's and however many times its character repeats; the
target's own "####" is then the one marker drawn again. Every word and
symbol is already in the world tokenizer's vocabulary (ASCII punctuation is; the words are checked
by a test), so the vocabulary, and with it every built model's key, is unchanged.
"""
from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from w2s_ray.data.world import Step

OP_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}
# How one step is written: {l} {op} {r} the operation, {res} its result.
STEP_TEMPLATES = (
    "{l} {op} {r} = {res}",
    "{res} = {l} {op} {r}",
    "{l} {op} {r} is {res}",
    "{l} {op} {r} -> {res}",
    "{l} {op} {r} => {res}",
    "({l} {op} {r} = {res})",
    "[{l} {op} {r}] {res}",
    "{l} {op} {r} : {res}",
    "{l} {op} {r} gives {res}",
    "{l} {op} {r} , {res}",
)
STEP_ENDS = ("", ".", ";", ",")
SEPARATORS = ("\n", " ", " | ", " / ")
OPENINGS = ("", "{name} started with {start}.", "{start}")
# The answer after the steps: a sentence, or a marker of 1-4 punctuation characters before or after it.
ANSWER_SENTENCES = ("So the answer is {n}.", "answer: {n}", "Then {n}.")
MARKER_CHARS = "".join(c for c in string.punctuation if c != "#")  # "#" only ever in the target's "####"
MARKER_SHAPES = ("{m} {n}", "{m}{n}", "{n} {m}", "{m} {n} {m}")
# With hash markers: the share of markers that are a run of one character, and of those runs the
# share of "#" runs (the rest: any other punctuation character), so "#"-runs of 1-3 are ~1 in 5 formats.
MARKER_RUNS = 0.5
HASH_RUNS = 0.5
FINAL_MARK = "####"  # the target's answer marker (data/world.FINAL_MARK; not imported: an import cycle)

# The target's step line (as data/pretrain_corpus.TARGET_STEP_LINE, kept here to avoid an import cycle).
_TARGET_STEP_LINE = re.compile(r"^\s*\d+ [-+*/] \d+ = \d+\s*$", re.MULTILINE)


@dataclass(frozen=True)
class SolutionFormat:
    step: str  # a STEP_TEMPLATES entry
    op_words: bool  # operators as "plus", "minus", ... instead of symbols
    step_end: str
    separator: str  # between the opening, the steps and the answer
    opening: str  # an OPENINGS entry
    answer: str  # with {n}: the final answer's line

    def render(self, start: int, steps: Sequence[Step], name: str) -> str:
        def step(s: Step) -> str:
            op = OP_WORDS[s.op] if self.op_words else s.op
            return self.step.format(l=s.left, op=op, r=s.right, res=s.result) + self.step_end

        opening = [self.opening.format(name=name, start=start)] if self.opening else []
        final = self.answer.format(n=steps[-1].result if steps else start)
        return self.separator.join([*opening, *(step(s) for s in steps), final])


def draw_marker(rng: random.Random, hash_markers: bool = False) -> str:
    """1-4 punctuation characters; without `hash_markers`, never "#" (draw for draw as before it)."""
    if not hash_markers:
        return "".join(rng.choice(MARKER_CHARS) for _ in range(rng.randint(1, 4)))
    if rng.random() < MARKER_RUNS:
        char = "#" if rng.random() < HASH_RUNS else rng.choice(MARKER_CHARS)
        return char * rng.randint(1, 4)
    return "".join(rng.choice(string.punctuation) for _ in range(rng.randint(1, 4)))


def draw_format(rng: random.Random, hash_markers: bool = False) -> SolutionFormat:
    """One format, drawn again until it is not the target's (see the module docstring)."""
    # What no format may hold: "#" at all, or with hash markers the target's marker itself.
    forbidden = FINAL_MARK if hash_markers else "#"
    while True:
        if rng.random() < 0.25:
            answer = rng.choice(ANSWER_SENTENCES)
        else:
            marker = draw_marker(rng, hash_markers)
            # "{" and "}" in a marker are literal: escaped before the answer template is formatted.
            answer = rng.choice(MARKER_SHAPES).replace("{m}", marker.replace("{", "{{").replace("}", "}}"))
        fmt = SolutionFormat(step=rng.choice(STEP_TEMPLATES), op_words=rng.random() < 0.3,
                             step_end=rng.choice(STEP_ENDS), separator=rng.choice(SEPARATORS),
                             opening=rng.choice(OPENINGS), answer=answer)
        probe = fmt.render(12, [Step(12, "+", 7, 19), Step(19, "-", 3, 16)], "Ada")
        if not _TARGET_STEP_LINE.search(probe) and forbidden not in probe:
            return fmt
