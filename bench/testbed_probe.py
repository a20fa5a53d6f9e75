"""Does the CPU testbed have a weak-to-strong gap? Plain torch + transformers, no Ray, no vLLM.

Builds (or takes from the cache) the pretrained strong student and a weak teacher, then measures
greedy accuracy by level on the demo test split of:
  weak        the weak teacher, zero-shot
  base        the student before any fine-tuning, zero-shot and 3-shot (gold demos)
  ceiling     the student fine-tuned on strong-half gold solutions
  weak_ft     the student fine-tuned on the weak teacher's own answers to the strong half

    python bench/testbed_probe.py --student world-student --weak weak-b --per-level 40

Fine-tuning here is a plain loop (models/pretrain.py, answer-only loss), so this measures the
testbed, not the loop: the figures `make demo` gets through Ray Train + TRL are in its report.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.data.splits import build_demo_splits
from w2s_ray.models.pretrain import PretrainConfig, pretrain
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, build_strong_student
from w2s_ray.models.weak_teacher import DEFAULT_RECIPES, build_weak_teacher
from w2s_ray.text.answers import extract_answer
from w2s_ray.text.prompts import few_shot, zero_shot


def complete(model, tok, prompts: list[str], max_new_tokens: int = 64, batch: int = 64) -> list[str]:
    out = []
    for i in range(0, len(prompts), batch):
        enc = tok(prompts[i:i + batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        texts = tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        out += [t.split("\n\n")[0] for t in texts]
    return out


def accuracy(texts: list[str], problems) -> dict:
    by_level: dict[int, list[bool]] = {}
    for text, p in zip(texts, problems):
        by_level.setdefault(p.level, []).append(extract_answer(text) == p.gold)
    flat = [c for cs in by_level.values() for c in cs]
    return {"acc": round(100 * sum(flat) / len(flat), 1),
            "by_level": {k: round(100 * sum(v) / len(v)) for k, v in sorted(by_level.items())}}


def finetune(model_dir, rows: list[tuple[str, str]], steps: int, lr: float):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    pretrain(model, tok, rows, PretrainConfig(max_steps=steps, lr=lr, batch=16, seq_len=256,
                                              answer_only_loss=True, warmup_steps=5), label="ft")
    return model.eval(), tok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--student", default="world-student", choices=sorted(DEFAULT_STUDENTS))
    parser.add_argument("--weak", default="weak-b", choices=sorted(DEFAULT_RECIPES))
    parser.add_argument("--per-level", type=int, default=40)
    parser.add_argument("--n-strong", type=int, default=400)
    parser.add_argument("--ft-steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    report = {}
    start = time.monotonic()
    student_dir = build_strong_student(args.student, threads=2)
    weak_dir = build_weak_teacher(args.weak)
    report["build_seconds"] = round(time.monotonic() - start)
    splits = build_demo_splits(0, 20000, 2000, 100)
    test = [p for level in range(1, 6) for p in [q for q in splits["test"] if q.level == level][:args.per_level]]
    strong = splits["strong_train"][:args.n_strong]
    test_prompts = [zero_shot(p.question) for p in test]

    wtok = AutoTokenizer.from_pretrained(weak_dir)
    weak = AutoModelForCausalLM.from_pretrained(weak_dir).eval()
    report["weak"] = accuracy(complete(weak, wtok, test_prompts), test)
    weak_answers = complete(weak, wtok, [zero_shot(p.question) for p in strong])
    report["weak_on_strong_half"] = accuracy(weak_answers, strong)

    stok = AutoTokenizer.from_pretrained(student_dir)
    base = AutoModelForCausalLM.from_pretrained(student_dir).eval()
    base_texts = complete(base, stok, test_prompts)
    report["base_zero_shot"] = accuracy(base_texts, test)
    report["base_example"] = base_texts[-1]
    demos = [{"id": p.id, "question": p.question, "solution": p.solution} for p in splits["weak_train"][:50]]
    shot_prompts = [few_shot(p.question, demos[i % 40:i % 40 + 3]) for i, p in enumerate(test)]
    report["base_3_shot_gold"] = accuracy(complete(base, stok, shot_prompts), test)

    gold_rows = [(zero_shot(p.question), " " + p.solution) for p in strong]
    model, tok = finetune(student_dir, gold_rows, args.ft_steps, args.lr)
    report["ceiling"] = accuracy(complete(model, tok, test_prompts), test)
    weak_rows = [(zero_shot(p.question), " " + t.strip()) for p, t in zip(strong, weak_answers)]
    model, tok = finetune(student_dir, weak_rows, args.ft_steps, args.lr)
    report["weak_ft"] = accuracy(complete(model, tok, test_prompts), test)
    report["seconds"] = round(time.monotonic() - start)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
