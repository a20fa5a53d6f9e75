"""Hostile model output: every scorer check is bounded on any thread, runs nothing, and a comparison
it refuses is counted, not scored.

A row's cost is CPU time (the scoring thread's, plus what the symbolic workers spent on it), not wall
clock: a loaded machine stretches wall clock but not the work. The bound is generous (a hostile input
that is not bounded costs seconds to forever); the per-case milliseconds are bench/hostile_scoring.py's."""
from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from tests.hostile_outputs import CASES, SENTINEL
from w2s_ray.score import Scorer, register, score_rows
from w2s_ray.score.answer_checker import math_equal
from w2s_ray.score.symbolic_worker import shared_compare_cpu_s

SPECS = [{"name": "answer_check", "config": {"style": style}} for style in ("math", "auto", "gsm8k")] + [
    {"name": "step_check"}]
LIMIT_S = 0.5  # CPU seconds a row; ~5-20 ms on a quiet machine (bench/hostile_scoring.py)
GOLD = "271828"
# The first calls import sympy and fill its caches (~1 s, once per process): not a row's cost.
WARM_UP = ((r"\frac{1}{2}", "0.5"), ("x^2+1", "1+x^2"), ("NaN", "1"), (r"\infty", "1"), ("1", "1e99"))


@pytest.fixture(scope="module", autouse=True)
def _warm_and_watch():
    if os.path.exists(SENTINEL):
        os.remove(SENTINEL)
    for gold, answer in WARM_UP:
        math_equal(gold, answer)
    yield
    assert not os.path.exists(SENTINEL), "a hostile output was executed"


def cpu_now() -> float:
    """This thread's CPU seconds plus the symbolic workers': the work a row costs, wherever it ran."""
    return time.thread_time() + shared_compare_cpu_s()


def _slowest(text: str) -> tuple[float, list[dict]]:
    rows, slowest = [], 0.0
    for spec in SPECS:
        start = cpu_now()
        rows += score_rows([{"text": text, "gold": GOLD}], [spec])
        slowest = max(slowest, cpu_now() - start)
    return slowest, rows


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 40 and len({name for name, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name, text", CASES, ids=[name for name, _ in CASES])
def test_hostile_output_is_scored_fast_on_the_main_thread(name, text):
    seconds, rows = _slowest(text)
    assert seconds <= LIMIT_S, f"{name}: {seconds * 1000:.0f} ms of CPU"
    assert not any(r.get("correct") for r in rows)  # no hostile text states GOLD


def test_hostile_outputs_are_scored_fast_off_the_main_thread():
    # Ray Data runs scorer batches on actor threads, where math_verify's SIGALRM timeout is off.
    results: dict[str, float] = {}

    def work():
        for name, text in CASES:
            results[name] = _slowest(text)[0]

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout=600)  # a stall detector only: the bound is on CPU, below
    assert not thread.is_alive(), f"stalled after {list(results)[-1:]}"
    slow = {name: round(s * 1000) for name, s in results.items() if s > LIMIT_S}
    assert not slow, f"over {LIMIT_S * 1000:.0f} ms (ms): {slow}"


@pytest.mark.parametrize("name", ["tower_10", "factorial", "sum", "deep_braces", "lone_surrogate",
                                  "symbol_huge_power"])
def test_a_refused_comparison_is_counted_not_scored(name):
    rows = score_rows([{"text": dict(CASES)[name], "gold": "1"}],
                      [{"name": "answer_check", "config": {"style": "math"}}])
    assert rows[0]["answer_refused"] is True and rows[0]["correct"] is False


def test_equal_strings_match_without_sympy_even_when_refused():
    row = {"answer": "10^{10^{10}}", "gold": "10^{10^{10}}"}
    out = score_rows([row], [{"name": "answer_check", "config": {"style": "math"}}])[0]
    assert out["correct"] is True and out["answer_refused"] is False


def test_floods_of_steps_and_huge_lines_are_refused_and_counted():
    flood = dict(CASES)["lines_1mb_equations"]
    many = "1+1=2\n" * 300 + "#### 2"
    long_line = "1+" * 3000 + "1 = 2\n2+2=4\n#### 4"
    out = score_rows([{"text": many}, {"text": long_line}, {"text": flood}], ["step_check"])
    assert (out[0]["n_steps"], out[0]["n_checkable_steps"], out[0]["n_refused_steps"]) == (300, 200, 100)
    assert (out[1]["n_steps"], out[1]["n_checkable_steps"], out[1]["n_refused_steps"]) == (2, 1, 1)
    assert out[2]["n_checkable_steps"] == 0 and out[2]["n_refused_steps"] == out[2]["n_steps"] > 100_000


def test_a_flood_text_states_no_answer_and_is_counted():
    out = score_rows([{"text": "#### 271828\n" + "x" * (1 << 20), "gold": GOLD}], ["answer_check"])[0]
    assert out["correct"] is False and out["answer_refused"] is True


@register("test_hostile_timer")
class HostileTimer(Scorer):
    """Scores each row with answer_check (math) and step_check, one row at a time, and reports the
    slowest row's CPU milliseconds, measured where Ray runs it: on an actor's worker thread."""

    columns = ("row_ms", "on_main_thread")
    num_cpus = 0.5

    def __init__(self):
        from w2s_ray.score.answer_checker import AnswerChecker
        from w2s_ray.score.step_checker import StepChecker

        self.scorers = [AnswerChecker(style="math"), StepChecker()]
        for gold, answer in WARM_UP:
            math_equal(gold, answer)

    def __call__(self, batch):
        times = []
        for i in range(len(batch["text"])):
            row = {key: values[i:i + 1] for key, values in batch.items()}
            start = cpu_now()
            for scorer in self.scorers:
                scorer(row)
            times.append((cpu_now() - start) * 1000)
        on_main = threading.current_thread() is threading.main_thread()
        return {"row_ms": np.array(times), "on_main_thread": np.array([on_main] * len(times))}


@pytest.mark.slow
def test_hostile_outputs_are_scored_fast_on_a_ray_actor_thread(ray_local):
    from w2s_ray.score import score_dataset

    ray = ray_local  # the session's Ray: shutting it down here left later tests without one
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    rows = [{"name": name, "text": text, "gold": GOLD} for name, text in CASES]
    out = score_dataset(ray.data.from_items(rows, override_num_blocks=4),
                        [{"name": "test_hostile_timer", "batch_size": 8}]).take_all()
    assert sorted(r["name"] for r in out) == sorted(name for name, _ in CASES)
    assert not any(r["on_main_thread"] for r in out)  # where math_verify's own timeout is off
    slow = {r["name"]: round(r["row_ms"]) for r in out if r["row_ms"] > LIMIT_S * 1000}
    assert not slow, f"over {LIMIT_S * 1000:.0f} ms on a Ray actor thread (ms): {slow}"


def test_refusals_reach_the_accuracy_table():
    from w2s_ray.eval.accuracy import accuracy_by_model

    rows = [{"model": "m", "text": text, "gold": GOLD} for text in
            (r"\boxed{10^{10^{10}}}", "1+1=2\n" * 250 + "#### 271828")]
    table = accuracy_by_model(score_rows(rows, [{"name": "answer_check", "config": {"style": "math"}},
                                                "step_check"]))["m"]
    assert (table["n"], table["acc"], table["n_answer_refused"], table["n_refused_steps"]) == (2, 0.5, 1, 50)
