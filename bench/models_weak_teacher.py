"""Build a weak teacher and measure its greedy accuracy by level on held-out world problems.

    python bench/models_weak_teacher.py weak-a
    python bench/models_weak_teacher.py weak-a --set hidden=96 --set max_steps=2000 --fresh

--fresh trains into a temporary directory instead of the cache (for tuning runs).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.text.prompts import zero_shot
from w2s_ray.models.weak_teacher import (
    DEFAULT_RECIPES,
    TRAINING_REPORT,
    build_weak_teacher,
    train_weak_teacher,
    weak_teacher_splits,
)

FINAL = re.compile(r"####\s*(-?\d+)")


def greedy_completions(model_dir: Path, prompts: list[str], max_new_tokens: int, batch: int) -> list[str]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    outputs = []
    for i in range(0, len(prompts), batch):
        enc = tokenizer(prompts[i : i + batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        outputs += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe", choices=sorted(DEFAULT_RECIPES))
    parser.add_argument("--set", action="append", default=[], help="field=value (JSON value)")
    parser.add_argument("--per-level", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()

    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    recipe = DEFAULT_RECIPES[args.recipe].model_copy(update=overrides)
    recipe = type(recipe).model_validate(recipe.model_dump())
    print(recipe.model_dump_json(), file=sys.stderr)
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    if args.fresh:
        model_dir = Path(tempfile.mkdtemp(prefix="weak-teacher-"))
        train_weak_teacher(recipe, model_dir, threads=args.threads)
    else:
        model_dir = build_weak_teacher(recipe, threads=args.threads)
    build_seconds = time.monotonic() - start

    test = weak_teacher_splits(recipe)["test"]
    by_level = {level: [p for p in test if p.level == level][: args.per_level] for level in range(1, 6)}
    problems = [p for level in sorted(by_level) for p in by_level[level]]
    start = time.monotonic()
    completions = greedy_completions(model_dir, [zero_shot(p.question) for p in problems], 64, 64)
    generate_seconds = time.monotonic() - start
    correct: dict[int, list[bool]] = {level: [] for level in by_level}
    for p, text in zip(problems, completions):
        match = FINAL.search(text)
        correct[p.level].append(bool(match) and match.group(1) == p.gold)
    accuracy = {level: round(100 * sum(c) / len(c)) for level, c in correct.items() if c}
    report = {
        "recipe": recipe.model_dump(),
        "training": json.loads((model_dir / TRAINING_REPORT).read_text()),
        "build_seconds": round(build_seconds, 1),
        "generate_seconds": round(generate_seconds, 1),
        "accuracy_by_level_pct": accuracy,
        "example": {"question": problems[0].question, "completion": completions[0]},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
