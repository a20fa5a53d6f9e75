"""What kind of errors does a weak teacher make? Arithmetic facts, reasoning, or format.

Builds (or takes from the cache) a weak teacher, greedy-generates on the demo's strong half and test
split (seed 0, the splits of bench/w2s_variants.py) and prints its accuracy by level and a breakdown
of its wrong answers:
  arithmetic  some written step "a op b = c" has c != a op b (whatever else is wrong)
  reasoning   every written step is right arithmetic, but the chain is not the gold one: a wrong
              operand or operator, a step that does not start from the previous result, a missing
              or extra step, or a final answer that is not the last step's result
  format      no final answer, or no step line at all
Reasoning errors are sub-typed by their first departure from the gold chain. A second breakdown,
first_error_share, classes each wrong answer by its first departure alone: a wrong fact written
after a wrong step (on operands the gold chain never has) counts there as the reasoning error it
follows.

    python bench/teacher_errors.py weak-b
    python bench/teacher_errors.py '{"name": "t", "layers": 1, "max_steps": 3000}'
"""
from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.data.splits import build_demo_splits
from w2s_ray.data.world import apply_op
from w2s_ray.models.weak_teacher import DEFAULT_RECIPES, WeakTeacherRecipe, build_weak_teacher
from w2s_ray.text.answers import extract_answer
from w2s_ray.text.prompts import zero_shot

# bench/ is the script's directory: the probe's own batched greedy generation.
from testbed_probe import complete

LINE = re.compile(r"^\s*(-?\d+) ([-+*/]) (-?\d+) = (-?\d+)\s*$")
GOLD_LINE = re.compile(r"^(\d+) ([-+*/]) (\d+) = (\d+)$")


def parse_steps(text: str) -> tuple[list[tuple[int, str, int, int]], int]:
    """Step lines (a, op, b, c) before the final-answer line, and how many other lines there were."""
    steps, other = [], 0
    for line in text.strip().splitlines():
        if line.strip().startswith("####"):
            break
        m = LINE.match(line)
        if m:
            steps.append((int(m[1]), m[2], int(m[3]), int(m[4])))
        elif line.strip():
            other += 1
    return steps, other


def gold_steps(solution: str) -> list[tuple[int, str, int, int]]:
    return [(int(a), op, int(b), int(c)) for a, op, b, c in
            (GOLD_LINE.match(line).groups() for line in solution.splitlines() if GOLD_LINE.match(line))]


def classify(text: str, problem) -> str:
    """'correct', 'format', 'arithmetic', or 'reasoning:<first departure>'."""
    answer = extract_answer(text)
    if answer == problem.gold:
        return "correct"
    steps, other = parse_steps(text)
    if not answer or not steps or other:
        return "format"
    if any(b == 0 and op == "/" or c != apply_op(a, op, b) for a, op, b, c in steps):
        return "arithmetic"
    gold = gold_steps(problem.solution)
    for i, (mine, ref) in enumerate(zip(steps, gold)):
        if i > 0 and mine[0] != steps[i - 1][3]:
            return "reasoning:not_chained"
        if mine[0] != ref[0]:
            return "reasoning:wrong_start" if i == 0 else "reasoning:wrong_operand"
        if mine[1] != ref[1]:
            return "reasoning:wrong_operator"
        if mine[2] != ref[2]:
            return "reasoning:wrong_operand"
    if len(steps) < len(gold):
        return "reasoning:missing_step"
    if len(steps) > len(gold):
        return "reasoning:extra_step"
    return "reasoning:answer_not_last_result"


def first_error(text: str, problem) -> str:
    """Of a wrong answer, the first departure from the gold chain, step by step: 'arithmetic' when the
    first wrong step has the gold operands and a wrong result, else the reasoning kind (a wrong fact
    written after the chain went astray, on operands the gold chain never has, counts as reasoning)."""
    kind = classify(text, problem)
    if kind in ("correct", "format") or kind.startswith("reasoning"):
        return kind
    steps, gold = parse_steps(text)[0], gold_steps(problem.solution)
    for i, (mine, ref) in enumerate(zip(steps, gold)):
        if mine[:3] != ref[:3]:
            return "reasoning:wrong_operand" if mine[1] == ref[1] else "reasoning:wrong_operator"
        if mine[3] != ref[3]:
            return "arithmetic"
    return "reasoning:missing_step" if len(steps) < len(gold) else "reasoning:extra_step"


def breakdown(texts: list[str], problems) -> dict:
    kinds = [classify(t, p) for t, p in zip(texts, problems)]
    firsts = [first_error(t, p) for t, p in zip(texts, problems) if first_error(t, p) != "correct"]
    by_level: dict[int, list[bool]] = {}
    for kind, p in zip(kinds, problems):
        by_level.setdefault(p.level, []).append(kind == "correct")
    wrong = [k for k in kinds if k != "correct"]
    top = Counter(k.split(":")[0] for k in wrong)
    steps = [s for t in texts for s in parse_steps(t)[0]]
    bad = sum(c != apply_op(a, op, b) if b or op != "/" else True for a, op, b, c in steps)
    high = [lv for lv in (4, 5) if lv in by_level]
    return {
        "acc": round(100 * (len(kinds) - len(wrong)) / len(kinds), 1),
        "by_level": {k: round(100 * sum(v) / len(v), 1) for k, v in sorted(by_level.items())},
        "acc_L45": round(100 * sum(sum(by_level[lv]) for lv in high) / max(1, sum(len(by_level[lv]) for lv in high)), 1),
        "wrong": len(wrong),
        "wrong_share": {k: round(v / max(1, len(wrong)), 3) for k, v in sorted(top.items())},
        "reasoning_kinds": dict(Counter(k.split(":")[1] for k in wrong if ":" in k).most_common()),
        "first_error_share": {k: round(v / max(1, len(firsts)), 3)
                              for k, v in sorted(Counter(k.split(":")[0] for k in firsts).items())},
        "steps_written": len(steps),
        "wrong_step_share": round(bad / max(1, len(steps)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe", help="a DEFAULT_RECIPES name, or a WeakTeacherRecipe as JSON")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-strong", type=int, default=2000)
    parser.add_argument("--examples", type=int, default=0, help="print this many wrong test answers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    recipe = (DEFAULT_RECIPES[args.recipe] if args.recipe in DEFAULT_RECIPES
              else WeakTeacherRecipe(**json.loads(args.recipe)))
    model_dir = build_weak_teacher(recipe, threads=1)
    built = time.monotonic() - start
    splits = build_demo_splits(0, 20000, args.n_strong, 40)  # the demo's (and bench/w2s_variants.py's)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    training = json.loads((model_dir / "training.json").read_text())
    report: dict = {"recipe": recipe.model_dump(exclude_defaults=True), "model_dir": str(model_dir),
                    "parameters": training["parameters"], "final_loss": training["final_loss"],
                    "build_seconds": round(built)}
    for split in ("test", "strong_train"):
        problems = splits[split]
        texts = complete(model, tok, [zero_shot(p.question) for p in problems])  # the demo's weak max_tokens
        report[split] = breakdown(texts, problems)
        if split == "test" and args.examples:
            wrong = [(t, p) for t, p in zip(texts, problems) if classify(t, p) != "correct"]
            for t, p in wrong[: args.examples]:
                print(f"--- L{p.level} {classify(t, p)}\n{p.question}\ngold: {p.solution!r}\nweak: {t!r}")
    report["seconds"] = round(time.monotonic() - start)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
