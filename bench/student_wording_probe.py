"""Which one-step wordings can the base student answer zero-shot? Plain transformers, greedy.

Stage I's round 1 keeps only problems the base student answers like the weak teacher, so a kind of
problem it cannot read is barely trained on (bench/filter_coverage.py). This asks the pretrained
student one-step problems of each operation, worded with each of the target's step sentences
(world.STEP_TEMPLATES) and with the pretraining corpus's own (pretrain_corpus.ALT_STEPS), each in the
target's zero-shot prompt, and prints accuracy per (operation, step wording, rest of the question).

    python bench/student_wording_probe.py --per-cell 60
"""
from __future__ import annotations

import argparse
import random

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.data import pretrain_corpus as corpus
from w2s_ray.data import world
from w2s_ray.models.strong_student import build_strong_student
from w2s_ray.text.answers import extract_answer
from w2s_ray.text.prompts import zero_shot

# bench/ is the script's directory
from testbed_probe import complete


def one_step(rng: random.Random, template: str, rest: str) -> tuple[str, str]:
    """(question, gold) of one step drawn from the world's chains, with the step worded by `template`.
    `rest`: the rest of the question (names, items, opening and question sentences) all the target's
    ("target"), the target's sentences with the corpus's names and items ("target sentences"), or
    all the corpus's ("corpus")."""
    while True:
        start, steps = world.sample_chain(rng, 1)
        if template in world.STEP_TEMPLATES[steps[0].op] or template in corpus.ALT_STEPS[steps[0].op]:
            break
    names, items = (world.NAMES, world.ITEMS) if rest == "target" else (corpus.ALT_NAMES, corpus.ALT_ITEMS)
    name = rng.choice(sorted(names))
    fields = {"name": name, "pron": names[name], "items": rng.choice(items)}
    if rest == "corpus":
        start_t, question_t = corpus.ALT_START[0], corpus.ALT_QUESTIONS[0]
    else:
        start_t, question_t = world.START_TEMPLATE, world.QUESTION_TEMPLATE
    question = " ".join([start_t.format(k=start, **fields), template.format(k=steps[0].right, **fields),
                         question_t.format(**fields)])
    return question, str(steps[0].result)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--student", default="world-student")
    parser.add_argument("--per-cell", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    student = build_strong_student(args.student)
    tok = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student).eval()
    rng = random.Random(args.seed)
    # The step sentence and the rest of the question vary apart: which of the two the student cannot read.
    print("| op | step sentence | rest of the question | right |\n|---|---|---|---|")
    for op in ("+", "-", "*", "/"):
        for step_source, templates in (("target", world.STEP_TEMPLATES[op]), ("corpus", corpus.ALT_STEPS[op])):
            for rest in ("target", "target sentences", "corpus"):
                problems = [one_step(rng, rng.choice(templates), rest) for _ in range(args.per_cell)]
                texts = complete(model, tok, [zero_shot(q) for q, _ in problems], max_new_tokens=48)
                right = sum(extract_answer(t) == gold for t, (_, gold) in zip(texts, problems))
                print(f"| {op} | {step_source} | {rest} | {right}/{len(problems)} |", flush=True)


if __name__ == "__main__":
    main()
