"""Can a built student learn temporal ordering (data/capabilities/temporal.py) when more of it is all it
sees? It is trained further on temporal problems alone (the corpus's wording, the target's names half
the time), in one of two solution styles, the same steps and seed; then its accuracy on new problems of
the same kind, greedy, by level (chance 50 %). Issue 28: every model of the demo-multicap run is at
chance on temporal, the ceiling included.

  answer_first  the corpus's solution today: the links from the earlier person asked to the later, so
                its first word is the answer (the chain must be followed before anything is written)
  walk          from the first person asked, one "X came before Y." per stated link, until the other
                person asked or the chain's end ("No one came after Z."), then the answer: each step
                one lookup of a stated link
  walk_same     walk, with every statement written "A came before B." (the walk's own words): can the
                walk's lookup be learnt when it is an exact match (an induction head's)?
  normalize_walk  first every statement restated as "A came before B." in the question's order (each a
                copy of one statement, its direction resolved), then the walk: each walk step is then
                a lookup of a line in the same words (what an induction head does)

  PYTHONPATH=$PWD python bench/temporal_learnability.py answer_first walk --steps 1200 [--student NAME]
  PYTHONPATH=$PWD python bench/temporal_learnability.py walk --shape 256,6,8  # a fresh model of that shape

Measured 2026-12-07 (world-student-multicap: 0.92 M parameters, 4 layers, hidden 96; 1,200 steps of 32
problems, levels 1-5; lr 1e-3; 2 threads, ~5 min an arm), right of 300 (60 a level):
answer_first 151 (30 / 29 / 31 / 35 / 26 by level), walk 155 (35 / 27 / 34 / 35 / 24): both at chance,
level 1 (one stated link between the two) included. Its steps name links no statement makes ("Theo
came before Maya" where Theo is stated with Eli only): the solution's order is not the cause; this
student does not find the statement that names a person. A fresh model of 4.93 M parameters
(`walk --shape 256,4,8`, same steps, 11 min): 126 (28 / 25 / 26 / 26 / 21), also at chance.

Measured 2026-12-07, later (fresh 0.92 M models, `--fresh 96,4,4`, 3,000 steps, 2 threads, quiet):
answer_first on level 1 alone (96,000 problems of one link): 33 / 60 (chance 30), in 427 s; the loss
stays at what knowing the pair but not its order gives. normalize_walk on levels 1-3: 177 / 180 (59 /
59 / 59), in 831 s. So each step must be a lookup of a line in the same words: the temporal
capability's target and corpus solutions restate the statements first since (data/capabilities/
temporal.py).
"""
from __future__ import annotations

import argparse
import random
import re
import time

import torch

from w2s_ray.data import world
from w2s_ray.data.capabilities import temporal as T
from w2s_ray.data.pretrain_corpus import ALT_NAMES, ANSWER_SENTENCE
from w2s_ray.text.prompts import zero_shot

STYLES = ("answer_first", "walk", "normalize_walk", "walk_same")


def _walk(order: list[str], x: str, y: str) -> list[str]:
    i, steps = order.index(x), []
    while i + 1 < len(order) and order[i] != y:
        steps.append(f"{order[i]} came before {order[i + 1]}.")
        i += 1
    if order[i] != y:
        steps.append(f"No one came after {order[i]}.")
    return steps


def problem(rng: random.Random, level: int, style: str) -> tuple[str, str, str]:
    """(question, solution in `style`, the earlier person)."""
    names = world.NAMES if rng.random() < 0.5 else ALT_NAMES
    order = T._chain(rng, level, names)
    links = [(order[i], order[i + 1]) for i in range(len(order) - 1)]
    rng.shuffle(links)
    # as T._statements draws them (the same problems as before this style was added), keeping the links
    sentences = [rng.choice(T.ALT_BEFORE if rng.random() < 0.5 else T.ALT_AFTER).format(a=a, b=c) for a, c in links]
    if style == "walk_same":  # every statement in the walk's own words: a step is an exact n-gram lookup
        sentences = [f"{a} came before {c}." for a, c in links]
    x, y, early, _ = T._asked(rng, order, level)
    question = " ".join([*sentences, rng.choice(T.ALT_QUESTIONS).format(x=x, y=y)])
    if style == "answer_first":
        first = order.index(early)
        steps = [f"{order[i]} came before {order[i + 1]}." for i in range(first, first + level)]
    elif style in ("walk", "walk_same"):
        steps = _walk(order, x, y)
    else:  # each statement restated as "A came before B." in the question's order, then the walk over them
        steps = [f"{a} came before {c}." for a, c in links] + ["So:"] + _walk(order, x, y)
    return question, " ".join([*steps, ANSWER_SENTENCE.format(n=early)]), early


def run(student: str, style: str, steps: int, batch: int = 32, per_level: int = 60,
        shape: tuple[int, int, int] | None = None, levels: tuple[int, ...] = (1, 2, 3, 4, 5),
        fresh: tuple[int, int, int] | None = None) -> dict[int, int]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from w2s_ray.models.strong_student import DEFAULT_STUDENTS, build_strong_student
    from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama
    from w2s_ray.models.word_tokenizer import build_world_tokenizer

    torch.manual_seed(0)
    if fresh is not None:  # the project's own fresh Llama (no student build needed): the recipe's tokenizer
        tok = build_world_tokenizer(DEFAULT_STUDENTS[student].capabilities)
        hidden, layers, heads = fresh
        model = build_tiny_llama(tok, TinyLlamaShape(hidden=hidden, layers=layers, heads=heads,
                                                     max_positions=1024), seed=0)
    else:
        path = build_strong_student(student)
        tok = AutoTokenizer.from_pretrained(path)
        if shape is None:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        else:  # a fresh model of another shape, the student's tokenizer: can the shape learn it at all?
            hidden, layers, heads = shape
            config = AutoConfig.from_pretrained(path)
            config.update({"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
                           "num_key_value_heads": heads, "head_dim": hidden // heads,
                           "intermediate_size": 4 * hidden})
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tok.pad_token = tok.pad_token or tok.eos_token
    print(f"{style}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng, start = random.Random(1), time.time()
    model.train()
    for step in range(steps):
        part = [problem(rng, rng.choice(levels), style) for _ in range(batch)]
        enc = tok([zero_shot(q) + " " + s + tok.eos_token for q, s, _ in part], return_tensors="pt", padding=True,
                  truncation=True, max_length=256)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        for i, (q, _, _) in enumerate(part):  # the loss on the solution only
            labels[i, :len(tok(zero_shot(q))["input_ids"])] = -100
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 200 == 0 or step == steps - 1:
            print(f"{style} step {step} loss {loss.item():.3f} {time.time() - start:.0f} s", flush=True)
    model.eval()
    tok.padding_side = "left"
    probe, right = random.Random(99), {}
    for level in levels:
        qs = [problem(probe, level, style) for _ in range(per_level)]
        enc = tok([zero_shot(q) for q, _, _ in qs], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=160, do_sample=False, pad_token_id=tok.pad_token_id)
        texts = [tok.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True) for row in out]
        right[level] = sum(bool(m := re.findall(r"answer is (\w+)", t)) and m[0] == gold
                           for (_, _, gold), t in zip(qs, texts))
        # where a wrong answer starts: the solution's sentences before the answer, and (normalize_walk)
        # the restated statements before "So:"
        steps_right = sum(t.split(" So the answer")[0].strip() == s.split(" So the answer")[0]
                          for (_, s, _), t in zip(qs, texts))
        restated = sum(t.split(" So:")[0].strip() == s.split(" So:")[0] for (_, s, _), t in zip(qs, texts)
                       if " So:" in s)
        print(f"{style} level {level}: {right[level]} / {per_level} right, steps exact {steps_right}"
              + (f", restated exact {restated}" if style == "normalize_walk" else "")
              + f"; e.g. {texts[0][:200]!r}", flush=True)
    return right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("styles", nargs="+", choices=STYLES)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--student", default="world-student-multicap")
    parser.add_argument("--shape", help="HIDDEN,LAYERS,HEADS: a fresh model of that shape (the student's "
                        "tokenizer) instead of the built student")
    parser.add_argument("--fresh", help="HIDDEN,LAYERS,HEADS: the project's fresh tiny Llama (build_tiny_llama, "
                        "head_dim 32, the recipe's tokenizer), without building the student")
    parser.add_argument("--levels", default="1,2,3,4,5", help="the levels trained on and probed")
    args = parser.parse_args()
    torch.set_num_threads(2)
    shape = tuple(int(v) for v in args.shape.split(",")) if args.shape else None
    fresh = tuple(int(v) for v in args.fresh.split(",")) if args.fresh else None
    levels = tuple(int(v) for v in args.levels.split(","))
    for style in args.styles:
        right = run(args.student, style, args.steps, shape=shape, levels=levels, fresh=fresh)
        n = 60 * len(levels)
        print(f"## {style}: {sum(right.values())} / {n} right (chance {n // 2}), by level {list(right.values())}")


if __name__ == "__main__":
    main()
