"""Time every hostile output (tests/hostile_outputs.py) through the scorers, off the main thread.

    PYTHONPATH=. python bench/hostile_scoring.py [--limit-s 5]

Each case runs in a child process that scores it on a worker thread (as Ray Data actors do), so a
case that freezes the interpreter is killed at the limit and reported as ">limit", and the next
case starts in a fresh child. Prints one line per case: milliseconds per scorer, and whether the
sentinel file that code-running cases would create exists.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time

sys.path.append(os.path.join(os.path.dirname(__file__), ".."))  # PYTHONPATH first: a baseline tree
from tests.hostile_outputs import CASES, SENTINEL  # noqa: E402

WARM_UP = ((r"\frac{1}{2}", "0.5"), ("x^2+1", "1+x^2"), ("NaN", "1"), (r"\infty", "1"), ("1", "1e99"))

SCORERS = (("answer_check", {"style": "math"}), ("answer_check", {"style": "auto"}),
           ("answer_check", {"style": "gsm8k"}), ("step_check", {}))


def _score_all(names, queue):
    from w2s_ray.score import score_rows
    from w2s_ray.score.answer_checker import math_equal

    for gold, answer in WARM_UP:  # imports and sympy's first-use caches: once per process, not per row
        math_equal(gold, answer)
    queue.put(("ready", None))
    cases = dict(CASES)
    for name in names:
        times = []
        for scorer, config in SCORERS:
            row = {"text": cases[name], "gold": "1"}
            out = {}

            def work():
                start = time.perf_counter()
                score_rows([row], [{"name": scorer, "config": config}])
                out["ms"] = (time.perf_counter() - start) * 1000

            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            thread.join()
            times.append(out.get("ms", float("nan")))
        queue.put((name, times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit-s", type=float, default=5.0)
    args = parser.parse_args()
    if os.path.exists(SENTINEL):
        os.remove(SENTINEL)
    ctx = mp.get_context("spawn")
    pending = [name for name, _ in CASES]
    worst = 0.0
    print(f"{'case':24s} " + " ".join(f"{s}:{c.get('style', '')}".ljust(20) for s, c in SCORERS))
    while pending:
        queue = ctx.Queue()
        child = ctx.Process(target=_score_all, args=(pending, queue), daemon=True)
        child.start()
        name, _ = queue.get(timeout=120)  # the imports
        while pending:
            try:
                name, times = queue.get(timeout=args.limit_s * len(SCORERS))
            except Exception:  # noqa: BLE001 - queue.Empty: the child is stuck on pending[0]
                print(f"{pending[0]:24s} >{args.limit_s * len(SCORERS):.0f} s (killed)", flush=True)
                child.kill()
                pending.pop(0)
                worst = float("inf")
                break
            pending.remove(name)
            worst = max(worst, *times)
            print(f"{name:24s} " + " ".join(f"{t:10.1f} ms".ljust(20) for t in times), flush=True)
        child.join(timeout=1)
    print(f"worst: {worst:.1f} ms; executed: {os.path.exists(SENTINEL)}")


if __name__ == "__main__":
    main()
