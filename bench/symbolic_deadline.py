"""Per-row cost of the deadline: symbolic comparisons in this process (as before) vs in a worker
process under a deadline (symbolic_worker.SymbolicPool), in one run, on a worker thread.

    PYTHONPATH=. python bench/symbolic_deadline.py [--rounds 5]

Rows are answer_check(style=math) rows whose comparison reaches sympy (it passes the refusal rule
and is not two plain numbers): the hostile corpus's answers that pass the rule, plus ordinary
MATH-style answers. Each path is warmed first (imports, sympy's caches, the worker's start-up).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.append(os.path.join(os.path.dirname(__file__), ".."))
from tests.hostile_outputs import CASES  # noqa: E402
from w2s_ray.score.symbolic_guard import refusal  # noqa: E402
from w2s_ray.score.symbolic_worker import SymbolicPool, WARM_UP, math_verify_equal  # noqa: E402
from w2s_ray.text.answers import extract_answer  # noqa: E402

ORDINARY = [(r"\frac{1}{2}", "0.5"), (r"2\sqrt{3}", r"\sqrt{12}"), ("x^2+2x+1", "(x+1)^2"),
            (r"\frac{\pi}{4}", r"\frac{1}{4}\pi"), ("(1,2)", r"\left(1,2\right)"), (r"3\sqrt{2}", "4.24"),
            (r"\{1,2\}", r"\{2,1\}"), ("x+1", "1+x"), (r"\frac{3}{7}", r"\frac{6}{14}"), ("2^{10}", "1024")]


def _rows() -> list[tuple[str, str]]:
    rows = list(ORDINARY)
    for _, text in CASES:
        answer = extract_answer(text, "math")
        if answer and refusal(answer) is None:
            rows.append((r"\frac{1}{2}", answer))
    return rows


def _timed_on_a_thread(compare, rows, rounds):
    out: dict = {}

    def work():
        times = []
        for _ in range(rounds):
            for gold, answer in rows:
                start = time.perf_counter()
                compare(gold, answer)
                times.append(time.perf_counter() - start)
        out["times"] = times

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return out["times"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import logging

    for name in ("math_verify.parser", "math_verify.grader"):  # "timeout is disabled" warnings
        logging.getLogger(name).setLevel(logging.ERROR)
    rows = _rows()
    for gold, answer in WARM_UP + tuple(rows):
        math_verify_equal(gold, answer)
    pool = SymbolicPool(deadline_s=10)
    for gold, answer in rows:
        pool.compare(gold, answer)
    before = _timed_on_a_thread(math_verify_equal, rows, args.rounds)
    after = _timed_on_a_thread(pool.compare, rows, args.rounds)
    pool.close()
    for label, times in (("in-process (before)", before), ("worker process + deadline", after)):
        print(f"{label:28s} rows {len(times):4d}  mean {statistics.mean(times) * 1e3:7.2f} ms  "
              f"median {statistics.median(times) * 1e3:7.2f} ms  max {max(times) * 1e3:7.2f} ms")
    print(f"ratio after/before: mean {statistics.mean(after) / statistics.mean(before):.2f}, "
          f"median {statistics.median(after) / statistics.median(before):.2f}; "
          f"added per row: median {(statistics.median(after) - statistics.median(before)) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
