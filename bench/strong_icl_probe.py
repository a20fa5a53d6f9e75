"""Does the strong student solve the demo world in context? Greedy k-shot accuracy by level, with gold
solutions as demonstrations, on the demo world and on a world with small operands.

    python bench/strong_icl_probe.py                 # SmolLM2-135M-Instruct, 10 problems per level
    python bench/strong_icl_probe.py --per-level 30 --model /path/to/model

The weak-to-strong recipe selects data where the strong model's few-shot answer agrees with a weak
teacher; it needs few-shot answers well above chance. This measures that directly, with the best
possible demonstrations (gold), so a low figure here bounds what Stage I can select.
"""
from __future__ import annotations

import argparse
import time
from unittest import mock

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import w2s_ray.data.world as world
from w2s_ray.models.load import resolve_model
from w2s_ray.text.answers import extract_answer
from w2s_ray.text.prompts import SHOT_SEPARATOR, few_shot

SMALL_OPERANDS = {"START_RANGE": (2, 20), "ADD_SUB_RANGE": (1, 9), "FACTOR_RANGE": (2, 3)}


def accuracy(model, tok, per_level: int, shots: int, overrides: dict) -> dict[int, float]:
    # patch.multiple needs at least one name: the demo world "overrides" MAX_VALUE with itself
    with mock.patch.multiple(world, **{"MAX_VALUE": world.MAX_VALUE, **overrides}):
        demos = [p.__dict__ for p in world.generate_world(30, seed=99, levels=(1, 2, 3))]
        problems = world.generate_world(per_level * 5, seed=7)
    prompts = [few_shot(p.question, demos[i % 10: i % 10 + shots]) for i, p in enumerate(problems)]
    right = {level: 0 for level in range(1, 6)}
    for i in range(0, len(prompts), 10):
        enc = tok(prompts[i:i + 10], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=64, do_sample=False, pad_token_id=tok.pad_token_id)
        for problem, ids in zip(problems[i:i + 10], out):
            text = tok.decode(ids[enc["input_ids"].shape[1]:], skip_special_tokens=True)
            text = text.split(SHOT_SEPARATOR)[0]  # the model goes on with a question of its own
            right[problem.level] += extract_answer(text) == problem.gold
    return {level: n / per_level for level, n in right.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--per-level", type=int, default=10)
    parser.add_argument("--shots", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    path = str(resolve_model(args.model))
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
    for name, overrides in (("demo world", {}), ("small operands", SMALL_OPERANDS)):
        start = time.perf_counter()
        acc = accuracy(model, tok, args.per_level, args.shots, overrides)
        mean = sum(acc.values()) / len(acc)
        print(f"{name:15s} {args.shots}-shot gold demos: mean {100 * mean:.0f}%  "
              + "  ".join(f"L{k} {100 * v:.0f}" for k, v in acc.items()) + f"  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
