"""What gold SFT into the target format does to the student's temporal skill (issue 28), without Ray:
the project's own SFT trainer (TRL SFTTrainer, `w2s_ray.train.sft_worker.sft_trainer`, the demo's
train settings) on gold target rows of temporal alone, or of every capability as the ceiling does,
then the student's greedy answers to the demo's 100 temporal test problems, counted as
bench/temporal_parts.py counts them (restated, walked, answer right).

  PYTHONPATH=$PWD python bench/temporal_sft.py --model world-student-multicap --rows 600 --epochs 2
  ... --rows 2400 --epochs 2          # more distinct temporal problems than the demo's strong half
  ... --all-capabilities --epochs 2   # the ceiling's own rows (600 a capability), mixed
  ... --layout lines                  # the line-a-step target of before 2026-12-08, for the contrast
  ... --as-prose                      # the control: the same rows in the corpus's own prose

--rows beyond the demo's strong half draws a bigger strong half of temporal (same seed, content-hash
splits), never the test split. A diagnosis, not a finding: the student's corpus was leak-checked
against the demo's splits only.
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from bench.multicap_latent_skill import demo_config, greedy_answers, load_for_generation
from bench.temporal_parts import answer_right, count
from w2s_ray.eval.findings import paired_interval


def gold_rows(config, rows: int, all_capabilities: bool) -> list[dict]:
    from w2s_ray.data.capabilities import capability_splits
    from w2s_ray.recipes.multi_capability.data import per_capability
    from w2s_ray.select.gold import gold_sft

    mc = config.multi_capability
    if all_capabilities:
        problems = [p for parts in per_capability(mc, config.data.seed).values() for p in parts["strong_train"]]
    else:
        problems = capability_splits("temporal", config.data.seed, mc.n_weak_train, rows,
                                     mc.n_test_per_level)["strong_train"]
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in gold_sft(problems).rows]


def sft(model_dir: str, rows: list[dict], config, epochs: float, lr: float | None) -> str:
    from datasets import Dataset
    from transformers import AutoTokenizer

    from w2s_ray.train.sft_worker import sft_trainer
    from w2s_ray.train.worker_loop import trainer_arguments

    import torch

    torch.set_num_threads(2)  # as the demo's train.cpu_threads, whatever the machine's cores
    train = config.train.model_copy(update={"epochs": epochs, **({"lr": lr} if lr else {})})
    out = tempfile.mkdtemp(prefix="temporal-sft-")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainer = sft_trainer(train, trainer_arguments(train, "cpu", None, "none", out), model_dir,
                          Dataset.from_list(rows), tokenizer)
    trainer.train()
    trainer.save_model(out)
    tokenizer.save_pretrained(out)
    return out


def as_prose(target: str) -> str:
    """A gold target solution written as the corpus writes it (data/capabilities/temporal.py)."""
    head, _, tail = target.partition("--")
    restated = [f"{a} came before {b}." for a, b in re.findall(r"(\w+) < (\w+)", head)]
    walk = [f"No one came after {a}." if b == "none" else f"{a} came before {b}."
            for a, b in re.findall(r"(\w+) < (\w+)", tail)]
    answer = re.search(r"=> (\w+)", tail).group(1)
    return " ".join([*restated, "So:", *walk, f"So the answer is {answer}."])


def a_line_a_step(target: str) -> str:
    """The one-line target as the line-a-step layout: "A < B" lines, "--" a line, "=> A"."""
    steps, answer = target.strip().split("\n")
    return "\n".join([*(part.strip().rstrip(".") for part in steps.replace(" -- ", " --. ").split(". ")), answer])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="world-student-multicap")
    ap.add_argument("--rows", type=int, default=600, help="temporal gold rows (ignored with --all-capabilities)")
    ap.add_argument("--all-capabilities", action="store_true", help="the ceiling's own rows, every capability")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--lr", type=float, default=None, help="default: the demo's train.lr")
    ap.add_argument("--as-prose", action="store_true", help="a control: the gold rows in the corpus's own prose "
                    "(\"A came before B. ... So: ... So the answer is A.\"), no new format to learn")
    ap.add_argument("--layout", choices=("target", "lines"), default="target",
                    help="lines: the target as it was before 2026-12-08, one \"A < B\" a line (the contrast)")
    ap.add_argument("--save", help="write {question: answer right} of this arm here (JSON)")
    ap.add_argument("--against", help="an arm's --save file: print this arm minus that one, paired over the problems")
    args = ap.parse_args()

    from w2s_ray.models.strong_student import build_strong_student
    from w2s_ray.recipes.multi_capability.data import per_capability

    config = demo_config()
    rows = gold_rows(config, args.rows, args.all_capabilities)
    if args.as_prose:
        rows = [{**r, "completion": " " + as_prose(r["completion"])} for r in rows]
    if args.layout == "lines":
        rows = [{**r, "completion": " " + a_line_a_step(r["completion"])} for r in rows]
    t0 = time.time()
    trained = sft(str(build_strong_student(args.model)), rows, config, args.epochs, args.lr)
    tokenizer, model = load_for_generation(trained)
    problems = per_capability(config.multi_capability, config.data.seed)["temporal"]["test"]
    pairs = [(p.question, text, p.gold) for p, text in greedy_answers(tokenizer, model, config, problems, 160)]
    print(f"{args.model} SFT {len(rows)} rows{' (all capabilities)' if args.all_capabilities else ''}, "
          f"{args.epochs} epochs, lr {args.lr or config.train.lr}, layout {'prose' if args.as_prose else args.layout}, "
          f"{time.time() - t0:.0f} s: {count(pairs)}",
          flush=True)
    for question, text, gold in pairs[:2]:
        print(f"  {question}\n  -> {text!r} (gold {gold})")
    right = {question: int(answer_right(text, gold)) for question, text, gold in pairs}
    if args.save:
        Path(args.save).write_text(json.dumps(right))
    if args.against:
        iv = paired_interval(right, json.loads(Path(args.against).read_text()))
        print(f"answer right, this arm minus {args.against}: {100 * iv['diff']:+.1f} "
              f"[{100 * iv['low']:+.1f}, {100 * iv['high']:+.1f}] over {iv['problems']} problems")


if __name__ == "__main__":
    main()
