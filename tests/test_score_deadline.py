"""Symbolic comparisons that pass the refusal rule run in a worker process under a hard deadline,
which holds off the main thread too: a comparison that never finishes is cut, the worker replaced,
and the row counted as timed out, never scored."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from w2s_ray.score import Scorer, register
from w2s_ray.score.answer_checker import AnswerChecker, math_equal
from w2s_ray.score.symbolic_guard import refusal
from w2s_ray.score.symbolic_worker import TIMED_OUT, SymbolicPool

DEADLINE_S = 1.0  # of the worker's CPU time
WALL_S = 20.0  # the bound that always holds; a quiet machine cuts the slow check at ~1.1 s
# Which limit cut a comparison is read from the worker's CPU, not from a clock a loaded machine
# stretches: cut at the deadline, it used DEADLINE_S and a poll's worth more (the pool looks at the
# worker's CPU every DEADLINE_S / 10 of wall clock), far from the WALL_S a spin to the cap would use.
CUT_AT_DEADLINE = (DEADLINE_S, DEADLINE_S * 3)


@pytest.fixture()
def slow_pool():
    pool = SymbolicPool(deadline_s=DEADLINE_S, check="tests.fake_checks:slow_on_slow", wall_s=WALL_S)
    pool.compare("warm", "up")  # the start-up is not a comparison's time
    yield pool
    pool.close()


def _on_a_thread(fn):
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()), daemon=True)
    thread.start()
    thread.join(timeout=120)  # a stall detector: the limits themselves are read from the worker's CPU
    assert not thread.is_alive(), "the comparison was not cut at its deadline"
    return out["value"]


def test_a_comparison_that_passes_the_rule_but_never_ends_is_cut_at_the_deadline_off_the_main_thread(slow_pool):
    assert refusal("slow") is None  # the cheap first line lets it through
    checker = AnswerChecker(style="math")
    checker.pool = slow_pool
    batch = {"answer": np.array(["slow", "x"], dtype=object), "gold": np.array(["x", "x"], dtype=object)}
    out = _on_a_thread(lambda: checker(batch))
    assert CUT_AT_DEADLINE[0] <= slow_pool.compare_cpu_s < CUT_AT_DEADLINE[1], slow_pool.compare_cpu_s
    assert out["answer_timed_out"].tolist() == [True, False]
    assert out["correct"].tolist() == [False, True]  # neither right nor silently wrong: counted
    assert out["answer_refused"].tolist() == [False, False]
    assert (slow_pool.timeouts, slow_pool.restarts) == (1, 1)
    # the killed worker is replaced (a fresh process) and the pool goes on comparing
    batch = {"answer": np.array(["y", "z"], dtype=object), "gold": np.array(["z", "z"], dtype=object)}
    out = _on_a_thread(lambda: checker(batch))
    assert out["correct"].tolist() == [False, True] and not out["answer_timed_out"].any()


def test_a_worker_that_dies_mid_comparison_is_counted_as_timed_out_and_replaced(slow_pool):
    assert _on_a_thread(lambda: slow_pool.compare("a", "crash")) == TIMED_OUT
    assert slow_pool.compare("b", "b") is True and slow_pool.restarts == 1


def test_a_worker_that_blocks_without_using_cpu_is_cut_at_the_wall_clock_cap():
    pool = SymbolicPool(deadline_s=DEADLINE_S, check="tests.fake_checks:slow_on_slow", wall_s=2.0)
    try:
        pool.compare("warm", "up")
        start = time.monotonic()
        verdict = _on_a_thread(lambda: pool.compare("x", "asleep"))
        # waited for the cap (a lower bound: load only adds), and no CPU deadline cut it
        assert verdict == TIMED_OUT and time.monotonic() - start >= 2.0
        assert pool.compare_cpu_s < DEADLINE_S and pool.timeouts == 1
    finally:
        pool.close()


def test_concurrent_threads_share_the_pool_and_only_the_slow_one_waits():
    # The slow call blocks its worker until the 8 s wall cap; five fast calls made meanwhile are all
    # answered while it still waits: by the second worker, not queued behind the first.
    pool = SymbolicPool(size=2, deadline_s=DEADLINE_S, check="tests.fake_checks:slow_on_slow", wall_s=8.0)
    try:
        workers = [pool._take(), pool._take()]  # both started before the race: a start is seconds of CPU
        for worker in workers:
            pool._give_back(worker)
        results: dict[str, object] = {}
        slow = threading.Thread(target=lambda: results.setdefault("slow", pool.compare("x", "asleep")))
        slow.start()
        while len(pool._idle) == 2:  # the slow call has taken its worker
            time.sleep(0.01)
        for i in range(5):
            results[f"fast{i}"] = pool.compare("q", "q")
        answered_while_slow_waited = slow.is_alive()
        slow.join(timeout=120)
        assert results["slow"] == TIMED_OUT and all(results[f"fast{i}"] is True for i in range(5))
        assert answered_while_slow_waited
    finally:
        pool.close()


def test_real_math_verify_runs_in_the_worker_and_agrees():
    pool = SymbolicPool(deadline_s=30)
    try:
        assert math_equal(r"\frac{1}{2}", "0.5", pool) is True
        assert math_equal(r"2\sqrt{3}", r"\sqrt{12}", pool) is True
        assert math_equal("x^2+1", "x+1", pool) is False
        assert math_equal("1", r"10^{10^{10}}", pool) is None  # refused before any worker sees it
    finally:
        pool.close()


def test_timeouts_reach_the_accuracy_table(slow_pool):
    from w2s_ray.eval.accuracy import accuracy_by_model

    checker = AnswerChecker(style="math")
    checker.pool = slow_pool
    batch = {"answer": np.array(["slow", "x"], dtype=object), "gold": np.array(["x", "x"], dtype=object)}
    out = checker(batch)
    rows = [{"model": "m", "gold": "x", **{k: v[i].item() for k, v in out.items()}} for i in range(2)]
    table = accuracy_by_model(rows)["m"]
    assert (table["n"], table["acc"], table["n_answer_timed_out"], table["n_answer_refused"]) == (2, 0.5, 1, 0)


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "2", True])
def test_the_deadline_must_be_a_positive_finite_number(bad):
    with pytest.raises(ValueError, match="deadline_s"):
        AnswerChecker(style="math", deadline_s=bad)


def test_a_worker_dies_with_the_process_that_started_it(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    script = (
        "import sys, threading\n"
        "from w2s_ray.score.symbolic_worker import SymbolicPool\n"
        "pool = SymbolicPool(deadline_s=600, check='tests.fake_checks:slow_on_slow')\n"
        "pool.compare('w', 'w')\n"
        "print(pool._idle[0].process.pid, flush=True)\n"
        "pool.compare('x', 'slow')\n")  # stuck in the worker until the deadline
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    worker_pid = int(parent.stdout.readline())
    time.sleep(0.3)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return
        # a zombie until its new parent (init, or this process' subreaper) reaps it
        with open(f"/proc/{worker_pid}/stat") as stat:
            if stat.read().split(")")[-1].split()[0] == "Z":
                return
        time.sleep(0.1)
    os.kill(worker_pid, signal.SIGKILL)
    raise AssertionError("the worker outlived the process that started it")


@register("test_deadline_probe")
class DeadlineProbe(Scorer):
    """answer_check (math) with the fake slow check, timed where Ray Data runs it: an actor thread."""

    columns = ("timed_out", "right", "worker_cpu_s", "on_main_thread")
    num_cpus = 0.5

    def __init__(self):
        self.checker = AnswerChecker(style="math")
        self.checker.pool = SymbolicPool(deadline_s=DEADLINE_S, check="tests.fake_checks:slow_on_slow",
                                         wall_s=WALL_S)
        self.checker.pool.compare("warm", "up")

    def __call__(self, batch):
        seconds, out = [], {"answer_timed_out": [], "correct": []}
        for i in range(len(batch["answer"])):
            start = self.checker.pool.compare_cpu_s
            row = self.checker({key: values[i:i + 1] for key, values in batch.items()})
            seconds.append(self.checker.pool.compare_cpu_s - start)
            for key in out:
                out[key].append(bool(row[key][0]))
        n = len(seconds)
        return {"timed_out": np.array(out["answer_timed_out"]), "right": np.array(out["correct"]),
                "worker_cpu_s": np.array(seconds),
                "on_main_thread": np.array([threading.current_thread() is threading.main_thread()] * n)}


@pytest.mark.slow
def test_the_deadline_holds_on_a_ray_actor_thread(ray_local):
    import sys

    from w2s_ray.score import score_dataset

    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    rows = [{"answer": a, "gold": "x"} for a in ("x", "slow", "x", "y")]
    out = score_dataset(ray_local.data.from_items(rows, override_num_blocks=1),
                        [{"name": "test_deadline_probe", "batch_size": 4}]).take_all()
    by_answer = {(r["answer"], r["right"], r["timed_out"]) for r in out}
    assert by_answer == {("x", True, False), ("slow", False, True), ("y", False, False)}
    assert not any(r["on_main_thread"] for r in out)
    slow = [r["worker_cpu_s"] for r in out if r["answer"] == "slow"][0]
    assert CUT_AT_DEADLINE[0] <= slow < CUT_AT_DEADLINE[1], slow
