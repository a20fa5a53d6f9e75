"""Can a testbed student read in-context demonstrations? Greedy accuracy on the demo world's test split
zero-shot and k-shot, and each k-shot minus zero-shot as a paired difference with its 95 % paired-
bootstrap interval over test problems (eval/findings.py).

    python bench/student_few_shot.py --student world-student-worksheets --student world-student --shots 3,4

Prompts, stops, token limits, splits and demo pools are the config's (configs/demo.yaml by default),
built by the functions the recipe builds them with:
  gold  k demos per problem from weak_train's first data.n_demos gold solutions (text/prompts.py
        pick_demos, seeded by the strong teacher's seed): the strong_base_few_shot baseline's prompt;
  weak  the authors' Stage I prompt: one fixed set of k weak-teacher outputs on the strong half, right
        or wrong, drawn as recipes/w2s_reasoning/demos.py draws it (loop.demo_seed);
  corpus (--demos ...,corpus) a diagnostic: per-problem demos of the student's own pretraining
        text, alt-worded problems solved in one SOLUTION_STYLES style, in the target's frame. It tells
        a student that cannot use demos at all from one thrown by the target format it never saw.
Generation is transformers `generate` in batches, greedy, cut at the stops as generate/hf_engine.py
cuts; answers are scored by the answer_check scorer. The students are built (or found) in the model
cache by name (models/strong_student.py). --demos picks the pools (default gold,weak).
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.config.loading import load_config
from w2s_ray.data.pretrain_corpus import alt_problem
from w2s_ray.data.splits import build_demo_splits
from w2s_ray.data.world import FINAL_MARK
from w2s_ray.eval.findings import paired_finding, render_findings
from w2s_ray.generate.hf_engine import truncate_at_stop
from w2s_ray.models.strong_student import build_strong_student
from w2s_ray.models.weak_teacher import build_weak_teacher
from w2s_ray.recipes.w2s_reasoning.demos import demo_pool, draw_fixed
from w2s_ray.score.answer_checker import AnswerChecker
from w2s_ray.text.answers import extract_answer
from w2s_ray.text.prompts import build_prompt


def load(path: Path):
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), tokenizer


def generate(model, tokenizer, prompts: list[str], max_tokens: int, stops: list[str], batch: int) -> list[str]:
    """Greedy completions, cut at the first stop (as the transformers engine does)."""
    texts = []
    for i in range(0, len(prompts), batch):
        enc = tokenizer(prompts[i:i + batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        texts += [truncate_at_stop(tokenizer.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True), stops)
                  for row in out]
    return texts


def correct(texts: list[str], problems: list[dict]) -> list[bool]:
    scored = AnswerChecker()({"text": np.array(texts, dtype=object),
                              "gold": np.array([p["gold"] for p in problems], dtype=object)})
    return [bool(c) for c in scored["correct"]]


def weak_demos(cfg, strong_train: list[dict], k: int, batch: int) -> list[dict]:
    """The authors' fixed demo set: the first weak teacher's greedy outputs on the strong half, drawn."""
    teacher = cfg.weak[0]
    model, tokenizer = load(build_weak_teacher(teacher.model))
    prompts = [build_prompt(p, 0, None, teacher.seed) for p in strong_train]
    texts = generate(model, tokenizer, prompts, teacher.max_tokens, list(teacher.stop), batch)
    rows = [{"problem_id": p["id"], "question": p["question"], "text": t, "answer": extract_answer(t),
             "model": teacher.name, "sample_index": 0} for p, t in zip(strong_train, texts)]
    return draw_fixed(demo_pool(rows), k, cfg.loop.demo_seed)


def corpus_demos(style: str, n: int, seed: int = 0) -> list[dict]:
    """n demos in the student's own pretraining text: alt problems of levels 1-5, solved in `style`."""
    rng = random.Random(seed)
    return [{"id": f"corpus-{i}", "question": q, "solution": s}
            for i, (q, s) in enumerate(alt_problem(rng, 1 + i % 5, target_wording=0.5, styles=(style,))
                                       for i in range(n))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", action="append", help="built-in student name (repeatable)")
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--per-level", type=int, default=200, help="test problems a level (5 levels)")
    parser.add_argument("--shots", default="3,4", help="k of the k-shot prompts, comma-separated")
    parser.add_argument("--demos", default="gold,weak",
                        help="demo pools of the k-shot prompts, run in this order: gold, weak, corpus")
    parser.add_argument("--corpus-style", default="symbols", help="the corpus pool's SOLUTION_STYLES style")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the measurements here as JSON")
    args = parser.parse_args()
    students = args.student or ["world-student-worksheets"]
    shots = [int(k) for k in args.shots.split(",") if k.strip()]
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    splits = build_demo_splits(cfg.data.seed, cfg.data.n_weak_train, cfg.data.n_strong_train, args.per_level)
    test = [p.to_row() for p in splits["test"]]
    wanted = [d.strip() for d in args.demos.split(",") if d.strip()]
    if set(wanted) - {"gold", "weak", "corpus"}:
        parser.error(f"--demos: gold, weak or corpus, not {wanted}")
    pools = {}
    if "gold" in wanted:
        pools["gold"] = [p.to_row() for p in splits["weak_train"][: cfg.data.n_demos]]
    if "corpus" in wanted:
        pools["corpus"] = corpus_demos(args.corpus_style, cfg.data.n_demos)

    def draw_weak_demos() -> list[dict]:
        """Drawn when a weak condition is first reached (the weak teacher answers the whole strong
        half first): the conditions before it are measured, and written, without waiting for it."""
        start = time.perf_counter()
        demos = weak_demos(cfg, [p.to_row() for p in splits["strong_train"]], max(shots), args.batch)
        gold = {p.id: p.gold for p in splits["strong_train"]}
        right = [d["answer"] == gold[d["id"]] for d in demos]
        print(f"weak demos ({cfg.weak[0].name}, seed {cfg.loop.demo_seed}): right {right} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        return demos
    strong, max_tokens = cfg.strong, cfg.eval.max_tokens
    results, findings, per_problem, completions = {}, [], {}, {}
    for name in students:
        model, tokenizer = load(build_strong_student(name))
        per_condition = {}
        for k, pool_name in [(0, None), *((k, p) for p in wanted for k in shots)]:
            label = "0-shot" if k == 0 else f"{k}-shot {pool_name}"
            if pool_name == "weak" and "weak" not in pools:
                pools["weak"] = draw_weak_demos()
            start = time.perf_counter()
            prompts = [build_prompt(p, k, pools.get(pool_name), strong.seed) for p in test]
            texts = generate(model, tokenizer, prompts, max_tokens, list(strong.stop), args.batch)
            right = correct(texts, test)
            per_condition[label] = {p["id"]: float(r) for p, r in zip(test, right)}
            by_level = {lv: np.mean([r for p, r in zip(test, right) if p["level"] == lv]) for lv in range(1, 6)}
            # Whether it wrote the target's answer line: did it follow target-format demos at all?
            marked = float(np.mean([FINAL_MARK in t for t in texts]))
            print(f"{name:26s} {label:12s} {100 * np.mean(right):5.1f} %  "
                  + " ".join(f"L{lv} {100 * a:.0f}" for lv, a in by_level.items()) + f"  '####' {100 * marked:.0f} %"

                  + f"  ({time.perf_counter() - start:.0f} s)  e.g. {texts[0][:80]!r}", flush=True)
            results.setdefault(name, {})[label] = {"accuracy": float(np.mean(right)), "with_final_mark": marked,
                                                   "by_level": {str(lv): float(a) for lv, a in by_level.items()}}
            per_problem.setdefault(name, {})[label] = [int(r) for r in right]
            completions.setdefault(name, {})[label] = texts
            if args.out:  # after every condition: a run cut short still leaves what it measured
                write(args.out, args, test, results, findings, per_problem, completions, complete=False)
        zero = per_condition["0-shot"]
        findings += [paired_finding(f"{name}: {label} - 0-shot", f"{label} beats zero-shot", values, zero)
                     for label, values in per_condition.items() if label != "0-shot"]
    print("\n".join(render_findings(findings)))
    if args.out:
        write(args.out, args, test, results, findings, per_problem, completions, complete=True)


def write(out: str, args, test: list[dict], results: dict, findings: list, per_problem: dict, completions: dict,
          complete: bool) -> None:
    """The measurements as JSON; `correct` holds each condition's 0/1 per test problem and `texts` its
    completions, in `test_ids` order, so paired differences can be recomputed from a partial run."""
    Path(out).write_text(json.dumps({"args": vars(args), "complete": complete, "n_test": len(test),
                                     "accuracy": results, "findings": findings, "test_ids": [p["id"] for p in test],
                                     "correct": per_problem, "texts": completions}, indent=2))


if __name__ == "__main__":
    main()
