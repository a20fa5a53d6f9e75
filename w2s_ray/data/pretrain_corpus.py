"""The strong student's pretraining corpus: the demo world's skill in another dress.

Why this exists: weak-to-strong generalisation appears where the strong model already has the skill
from pretraining on a broader, related distribution, and weak labels only elicit it (Burns et al.
2023). A real LLM met arithmetic word problems on the web in many wordings and formats,
never in the benchmark's own; this corpus plays that role for the CPU testbed:

  - solved problems of the same world (same chains, `world.sample_chain`) worded with other names,
    items and sentence templates, and solved in prose ("Ada started with 12. 12 plus 7 is 19. So the
    answer is 19."), in styles (SOLUTION_STYLES) that each hold some of the target format's features
    (steps in symbols, a step a line, no opening sentence) but never all of them together,
    each in one of a few frames ("Problem:/Solution:", "Q:/A:", "Question:/Answer:");
  - the target questions of the train splits, without solutions (unlabelled text in the target's
    own wording; never a test question);
  - with `CorpusSpec.worksheets` set, worksheets: 2-5 solved problems in one document, one frame and
    one solution style throughout, joined as a k-shot prompt joins its shots (text/prompts.py), as
    real corpora hold exercise sheets and worked-example pages. A student pretrained on single
    problems only had never seen a solved problem before the one it solves, and k-shot prompts with
    gold demos made it worse than zero-shot (issue 26, difference 7);
  - with `CorpusSpec.worksheet_formats` set, that share of the worksheets is written in a format drawn
    at random for the worksheet (data/solution_formats.py), so the only way to predict a solution's
    format is to copy it from the problems before it: in-context format following.
The loss is on the solutions and on the unlabelled questions (see build_corpus and worksheet).

It never holds the target solution format (step lines "a op b = c", "#### N") nor a strong-half or
test question together with its solution; `leaks` checks a corpus for both (tests hold it to that).
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from w2s_ray.data import world
from w2s_ray.data.schema import Problem
from w2s_ray.data.solution_formats import SolutionFormat, draw_format
from w2s_ray.data.world import FINAL_MARK, Step, sample_chain
from w2s_ray.text.prompts import SHOT_SEPARATOR

ALT_NAMES = {"Ada": "She", "Ivy": "She", "Zoe": "She", "Maya": "She", "Rosa": "She", "Iris": "She",
             "Eli": "He", "Finn": "He", "Kai": "He", "Hugo": "He", "Omar": "He", "Theo": "He"}
ALT_ITEMS = ("pebbles", "buttons", "tickets", "nuts", "ribbons", "acorns", "blocks", "cups", "keys", "seeds")
ALT_START = ("{name} had {k} {items}.", "At first {name} owned {k} {items}.", "A box held {k} {items} for {name}.")
ALT_STEPS = {
    "+": ("Then {name} found {k} more.", "Later {name} bought {k} more {items}.", "{name} got another {k}.",
          "Someone gave {name} {k} more {items}."),
    "-": ("Then {name} gave away {k} of them.", "{name} lost {k} {items}.", "After that {name} used {k}.",
          "{k} of the {items} broke."),
    "*": ("Then the number of {items} became {k} times as large.", "{name} ended up with {k} times as many.",
          "Soon {name} had {k} times as many {items}."),
    "/": ("{name} split them into {k} equal groups and kept one.",
          "Then {name} divided the {items} into {k} equal piles and kept one pile.",
          "{name} shared the {items} equally among {k} friends, {name} included, and kept one share."),
}
ALT_QUESTIONS = ("How many {items} did {name} have in the end?", "How many {items} were there at the end?",
                 "What is the number of {items} now?")
OP_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}
# The target's own frame is among them: web text has "Question: ... Answer: ..." too. What the corpus
# never has is the target's solution format; a base student answers a target prompt in prose.
FRAMES = (("Problem:", "Solution:"), ("Q:", "A:"), ("Question:", "Answer:"))
ANSWER_SENTENCE = "So the answer is {n}."
UNLABELLED_PREFIX = "Question:"

# What the target format looks like; a corpus holding either has leaked it.
TARGET_STEP_LINE = re.compile(r"^\s*\d+ [-+*/] \d+ = \d+\s*$", re.MULTILINE)


# How a corpus solution is written: (steps in symbols, opening sentence, separator between sentences).
# Each style holds some of the target format's features (symbols; one step a line; no opening
# sentence) but none holds all of them together, nor "#### N": the target format stays unseen, a
# recombination of what the student has seen rather than a new skill (see CorpusSpec.styles).
SOLUTION_STYLES = {
    "words": (False, True, " "),  # "Ada started with 12. 12 plus 7 is 19. So the answer is 19."
    "symbols": (True, True, " "),  # "Ada started with 12. 12 + 7 = 19. So the answer is 19."
    "symbols_bare": (True, False, " "),  # "12 + 7 = 19. 19 - 3 = 16. So the answer is 16."
    "word_lines": (False, False, "\n"),  # "12 plus 7 is 19.\n19 minus 3 is 16.\nSo the answer is 16."
}


def prose_solution(start: int, steps: Sequence[Step], symbols: bool = False, name: str | None = None,
                   separator: str = " ") -> str:
    """One paragraph, "Ada started with 12. 12 plus 7 is 19. 19 minus 3 is 16. So the answer is 16.",
    or with the steps in symbols ("... 12 + 7 = 19. ..."), as web text mixes both; without `name`, no
    opening sentence; `separator` "\n" puts each sentence on its own line. Never the target's own
    format: one bare equation a line, then "#### N".

    The opening sentence anchors the chain on the question's starting amount. Without it in every
    solution, the same pretraining budget gave a student that, asked a target question, often went on
    writing question text instead of solving it: 23.0 % zero-shot on the demo test split, against
    50.5 % with it (bench/w2s_variants.py, 2026-11-26)."""
    def step(s: Step) -> str:
        return f"{s.left} {s.op} {s.right} = {s.result}." if symbols else \
            f"{s.left} {OP_WORDS[s.op]} {s.right} is {s.result}."

    opening = [f"{name} started with {start}."] if name else []
    final = ANSWER_SENTENCE.format(n=steps[-1].result if steps else start)
    return separator.join([*opening, *(step(s) for s in steps), final])


def alt_problem(rng: random.Random, level: int, target_wording: float = 0.0,
                symbols: float = 0.0, styles: Sequence[str] | None = None,
                target_entities: float = 0.0, solution_format: SolutionFormat | None = None) -> tuple[str, str]:
    """(question, prose solution) of one chain of `level` steps, worded the corpus's way; with
    probability `target_wording` in the target's sentence templates (with the corpus's own names
    and items: web text shares a benchmark's phrasing, not its problems). The solution is in one of
    `styles` (SOLUTION_STYLES), or, without styles, an opened paragraph whose steps are in symbols
    with probability `symbols`. With probability `target_entities`, the names and items are the
    target's own (drawn only when it is set: corpora without it stay draw for draw). A
    `solution_format` (format worksheets) writes the solution in it instead of a style."""
    names, all_items = ALT_NAMES, ALT_ITEMS
    if target_entities and rng.random() < target_entities:
        names, all_items = world.NAMES, world.ITEMS
    name = rng.choice(sorted(names))
    items = rng.choice(all_items)
    start, steps = sample_chain(rng, level)
    fields = {"name": name, "pron": names[name], "items": items}
    if rng.random() < target_wording:
        start_t, step_t, question_t = (world.START_TEMPLATE,), world.STEP_TEMPLATES, (world.QUESTION_TEMPLATE,)
    else:
        start_t, step_t, question_t = ALT_START, ALT_STEPS, ALT_QUESTIONS
    sentences = [rng.choice(start_t).format(k=start, **fields)]
    sentences += [rng.choice(step_t[s.op]).format(k=s.right, **fields) for s in steps]
    sentences.append(rng.choice(question_t).format(**fields))
    if solution_format:
        solution = solution_format.render(start, steps, name)
    elif styles:
        in_symbols, opened, separator = SOLUTION_STYLES[rng.choice(styles)]
        solution = prose_solution(start, steps, in_symbols, name if opened else None, separator)
    else:  # the corpus of students built before styles existed, draw for draw
        solution = prose_solution(start, steps, symbols=rng.random() < symbols, name=name)
    return " ".join(sentences), solution


@dataclass(frozen=True)
class CorpusSpec:
    n_problems: int = 40000
    levels: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    target_wording: float = 0.5  # share of solved problems worded with the target's templates
    symbols: float = 0.5  # without styles: share of solutions with their steps inline in symbols
    styles: tuple[str, ...] = ()  # SOLUTION_STYLES drawn uniformly; () = opened paragraphs, `symbols` share
    seed: int = 0
    # Share of solved problems with the target's names and items (web text shares a benchmark's
    # entities): 0 keeps the target's entities for the unlabelled questions only.
    target_entities: float = 0.0
    # Share of the solved documents that are worksheets (several solved problems, see `worksheet`),
    # and how many problems one holds (fewest, most). Drawn only when set: corpora without worksheets
    # stay draw for draw (the built-in students' cache keys hold their corpus hash).
    worksheets: float = 0.0
    worksheet_problems: tuple[int, int] = (2, 5)
    # Share of the worksheets written in a format drawn for the worksheet (data/solution_formats.py)
    # rather than in a corpus style; drawn only when set, as `worksheets`.
    worksheet_formats: float = 0.0
    # Drawn formats' answer markers may hold "#" ("#", "##", "###"; never the target's "####"), see
    # data/solution_formats.draw_format; unset, every draw is as before it.
    hash_markers: bool = False


# (context, text the loss is on); a worksheet is longer: (context, text, context, text, ...), the
# contexts out of the loss and the texts in it, read in that order as one document.
Example = tuple[str, ...]


def worksheet(rng: random.Random, spec: CorpusSpec, held: set[str] = frozenset()) -> Example:
    """One document of several solved problems: (frame + question, solution, frame + question, ...).

    Laid out as `few_shot` lays out its shots (question and solution in a frame, shots joined by
    SHOT_SEPARATOR), but in one of the corpus's frames and solution styles, never the target's
    solution format. One frame and one style hold for the whole document, as in a real worksheet:
    a student learns that a solution follows the ones before it, and in their manner.

    Where the loss goes: on every solution, and on the separator that ends each one but the last,
    as on a single document's solution and its EOS (pretrain.py): the student learns to solve a
    problem with solved problems before it in view (the skill k-shot prompts ask for), and that a
    solution ends where the next shot would begin, so greedy decoding stops at the recipe's "\n\n"
    stop rather than running on. The frames and questions stay out of it, as for single documents:
    their starting amounts are random, and predicting them spends steps on noise (build_corpus).
    """
    ask, answer = rng.choice(FRAMES)
    styles = (rng.choice(spec.styles),) if spec.styles else ()
    n = rng.randint(*spec.worksheet_problems)
    # Drawn after the style, so worksheets without formats stay draw for draw.
    drawn = spec.worksheet_formats and rng.random() < spec.worksheet_formats
    fmt = draw_format(rng, spec.hash_markers) if drawn else None
    shots: list[tuple[str, str]] = []
    while len(shots) < n:
        question, solution = alt_problem(rng, rng.choice(spec.levels), spec.target_wording, spec.symbols,
                                         styles, spec.target_entities, fmt)
        if question not in held:  # a held-out question never appears with its solution
            shots.append((f"{ask} {question}\n{answer}", f" {solution}"))
    segments: list[str] = []
    for i, (context, solution) in enumerate(shots):
        segments += [context, solution + (SHOT_SEPARATOR if i < n - 1 else "")]
    return tuple(segments)


def build_corpus(spec: CorpusSpec, unlabelled: Sequence[Problem], held_out: Sequence[Problem] = ()) -> list[Example]:
    """Solved alt-worded problems, as (frame + question, prose solution), and the unlabelled target
    questions, as ("", "Question: ..."): the loss is on the second part, so pretraining spends its
    steps on solving and on reading the target's questions, not on predicting random starting
    numbers (with loss on every token, the same budget learnt to solve far less, measured).

    Only the question text of `unlabelled` is read; the caller passes train-split questions only.
    A solved problem that words a `held_out` question exactly (possible only with the target's
    entities and sentences) is drawn again: it would hold that question with its solution.
    With `spec.worksheets`, that share of the `n_problems` solved documents are worksheets.
    """
    rng = random.Random(spec.seed)
    held = {p.question for p in held_out}
    examples: list[Example] = []
    while len(examples) < spec.n_problems:
        if spec.worksheets and rng.random() < spec.worksheets:
            examples.append(worksheet(rng, spec, held))
            continue
        ask, answer = rng.choice(FRAMES)
        question, solution = alt_problem(rng, rng.choice(spec.levels), spec.target_wording, spec.symbols,
                                         spec.styles, spec.target_entities)
        if question not in held:
            examples.append((f"{ask} {question}\n{answer}", f" {solution}"))
    examples += [("", f"{UNLABELLED_PREFIX} {p.question}") for p in unlabelled]
    random.Random(spec.seed + 1).shuffle(examples)
    return examples


def vocabulary_texts() -> list[str]:
    """Every word the corpus can emit, numbers aside (for the shared word-level tokenizer)."""
    texts = [ANSWER_SENTENCE.format(n=1), UNLABELLED_PREFIX, *(f"{a} {b}" for a, b in FRAMES), *OP_WORDS.values(),
             "started with is."]
    for name, pron in ALT_NAMES.items():
        for items in ALT_ITEMS:
            fields = {"name": name, "pron": pron, "items": items, "k": 1}
            texts += [t.format(**fields) for t in ALT_START + ALT_QUESTIONS]
            texts += [t.format(**fields) for ts in ALT_STEPS.values() for t in ts]
            texts += [t.format(**fields) for t in (world.START_TEMPLATE, world.QUESTION_TEMPLATE)]
    return texts


def _question_of(context: str, text: str) -> str | None:
    first = (context or text).split("\n", 1)[0]
    return first.split(" ", 1)[1] if " " in first else None


def questions_of(example: Example) -> list[str]:
    """The question of each (context, text) pair of a document: one, or a worksheet's several."""
    return [q for context, text in zip(example[::2], example[1::2]) if (q := _question_of(context, text))]


def leaks(examples: Sequence[Example], held_out: Sequence[Problem]) -> list[str]:
    """Why `examples` would leak the target: the target's solution format, or a held-out question
    (strong half or test) together with its solution or its gold answer sentence anywhere in the
    same document (a worksheet's every question is checked against the whole worksheet), or asked
    as a solved problem at all (a format worksheet's answer need not be the answer sentence)."""
    found = []
    by_question = {p.question: p for p in held_out}
    for i, example in enumerate(examples):
        text = "".join(example)
        if FINAL_MARK in text or TARGET_STEP_LINE.search(text):
            found.append(f"example {i}: holds the target solution format")
        for question in questions_of(example):
            problem = by_question.get(question)
            if problem and ((problem.solution and problem.solution in text)
                            or ANSWER_SENTENCE.format(n=problem.gold) in text
                            or any(c and _question_of(c, t) == question for c, t in zip(example[::2], example[1::2]))):
                found.append(f"example {i}: holds held-out question {problem.id} with its solution")
    return found
