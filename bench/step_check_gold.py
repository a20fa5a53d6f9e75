"""Step-checker false alarms on gold: the share of checkable gold steps it flags as wrong.

    PYTHONPATH=. python bench/step_check_gold.py [PATH] [--show 20]

Gold solutions are right (up to GSM8K's own rare slips), so every flagged step is a false alarm or a
gold error; the target is <= 0.2 % of checkable steps. PATH defaults to the shared GSM8K train file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from w2s_ray.score.step_checker import check_steps, split_steps  # noqa: E402

DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "gsm8k", "train.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=DEFAULT)
    parser.add_argument("--show", type=int, default=0, help="print this many flagged steps")
    args = parser.parse_args()
    checkable = flagged = solutions = 0
    shown = []
    start = time.perf_counter()
    with open(args.path, encoding="utf-8") as f:
        for line in f:
            gold = json.loads(line)["answer"]
            stats = check_steps(gold)
            solutions += 1
            checkable += stats["n_checkable_steps"]
            flagged += stats["n_wrong_steps"]
            if len(shown) < args.show:
                steps = split_steps(gold)
                shown += [steps[i] for i in stats["wrong_steps"]]
    seconds = time.perf_counter() - start
    for step in shown[:args.show]:
        print("FLAGGED:", step)
    print(f"{solutions} gold solutions, {checkable} checkable steps, {flagged} flagged: "
          f"false-alarm rate {flagged / checkable:.3%} ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
