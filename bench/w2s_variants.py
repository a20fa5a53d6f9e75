"""Which fine-tuning setups let the testbed's student rise above its weak teacher? Plain torch loop.

On the demo's own splits (seed 0, --n-strong strong-half questions, 40 test problems per level), measures
greedy accuracy by level after fine-tuning `world-student` on:
  ceiling        gold solutions of the strong half
  weak_ft        the weak teacher's answers to the strong half (full weak fine-tuning)
  consistency    the weak answers where the student's own zero-shot answer agrees (Stage I, round 1)
each with full fine-tuning and with LoRA, at the given step counts. The plain loop (models/pretrain.py)
stands in for Ray Train + TRL so that many setups fit in minutes; the loop's figures are in its report.

    python bench/w2s_variants.py --variants ceiling:full:300 weak_ft:lora8:300 consistency:full:300
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.data.splits import build_demo_splits
from w2s_ray.models.pretrain import PretrainConfig, pretrain
from w2s_ray.models.strong_student import build_strong_student
from w2s_ray.models.weak_teacher import build_weak_teacher
from w2s_ray.text.answers import extract_answer
from w2s_ray.text.prompts import zero_shot

# bench/ is the script's directory: the probe's own greedy generation and scoring by level.
from testbed_probe import accuracy, complete as probe_complete


def complete(model, tok, prompts: list[str]) -> list[str]:
    return probe_complete(model, tok, prompts, max_new_tokens=96)  # the demo's strong.max_tokens


def finetune(model_dir, rows, adapter: str, steps: int, lr: float):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter.startswith("lora"):
        from peft import LoraConfig, get_peft_model
        rank = int(adapter[4:])
        model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear"))
    pretrain(model, tok, rows, PretrainConfig(max_steps=steps, lr=lr, batch=16, seq_len=256,
                                              answer_only_loss=True, warmup_steps=5, log_every_s=1e9), label="ft")
    return model.eval(), tok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--student", default="world-student")
    parser.add_argument("--weak", default="weak-b")
    parser.add_argument("--variants", nargs="+", default=["ceiling:full:300", "weak_ft:full:300"],
                        help="DATA:ADAPTER:STEPS with DATA ceiling|weak_ft|consistency, ADAPTER full|loraR")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lora-lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-strong", type=int, default=2000, help="strong-half questions (the demo's: 2000)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    student_dir, weak_dir = build_strong_student(args.student, threads=2), build_weak_teacher(args.weak)
    splits = build_demo_splits(0, 20000, args.n_strong, 40)
    test, strong = splits["test"], splits["strong_train"]
    test_prompts = [zero_shot(p.question) for p in test]
    strong_prompts = [zero_shot(p.question) for p in strong]
    report: dict = {}

    wtok = AutoTokenizer.from_pretrained(weak_dir)
    weak = AutoModelForCausalLM.from_pretrained(weak_dir).eval()
    report["weak"] = accuracy(complete(weak, wtok, test_prompts), test)
    weak_answers = complete(weak, wtok, strong_prompts)
    report["weak_on_strong_half"] = accuracy(weak_answers, strong)

    stok = AutoTokenizer.from_pretrained(student_dir)
    base = AutoModelForCausalLM.from_pretrained(student_dir).eval()
    report["base_zero_shot"] = accuracy(complete(base, stok, test_prompts), test)
    own = complete(base, stok, strong_prompts)
    agree = [i for i, (w, s) in enumerate(zip(weak_answers, own))
             if extract_answer(w) and extract_answer(w) == extract_answer(s)]
    report["consistency"] = {"kept": len(agree),
                             "kept_correct": round(sum(extract_answer(weak_answers[i]) == strong[i].gold
                                                       for i in agree) / max(1, len(agree)), 3)}
    rows = {
        "ceiling": [(strong_prompts[i], " " + p.solution) for i, p in enumerate(strong)],
        "weak_ft": [(strong_prompts[i], " " + t.strip()) for i, t in enumerate(weak_answers)],
        "consistency": [(strong_prompts[i], " " + weak_answers[i].strip()) for i in agree],
    }
    print(json.dumps(report), flush=True)
    for variant in args.variants:
        data, adapter, steps = variant.split(":")
        t0 = time.monotonic()
        lr = args.lr if adapter == "full" else args.lora_lr
        model, tok = finetune(student_dir, rows[data], adapter, int(steps), lr)
        report[variant] = accuracy(complete(model, tok, test_prompts), test)
        report[variant]["seconds"] = round(time.monotonic() - t0)
        print(variant, json.dumps(report[variant]), flush=True)
    report["seconds"] = round(time.monotonic() - start)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
