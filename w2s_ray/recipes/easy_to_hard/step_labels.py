"""Step labels for a process reward model without human annotators (METHODS.md 4), three sources:

  gold          on problems with gold (the easy levels of easy-to-hard): a solution whose final
                answer is right and whose checkable steps all check is right at every step; a wrong
                one is labelled up to its first step the step checker finds wrong. A wrong answer
                with no step found wrong has no located error: dropped, counted.
  step_check    the step checker alone, no gold: a solution whose steps were all checked and none
                is wrong is right throughout; else labelled up to its first wrong step.
  monte_carlo   OmegaPRM (Luo et al. 2024): from a prefix of a wrong solution, k rollouts; the
                share that reaches the right answer is the prefix's value. `first_error` binary-
                searches for the first step after which no rollout succeeds (monte_carlo.py runs the
                rollouts with the vLLM engine).

Every source labels the same way: steps before the first error 1, the first error 0, nothing after
(what follows an error is neither right nor wrong). A row: {problem_id, prompt, steps, labels,
source, source_model, sample_index, level}, the prompt the zero-shot template, steps cut as the step
checker cuts them, so a PRM trained on them reads the indices `wrong_steps` uses.

Unlike the weak-to-strong selections, `gold` reads gold on purpose: the easy levels' gold is the
supervision easy-to-hard is allowed (Sun et al. 2024). The other two never read it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from w2s_ray.select.selection import Selection, _as_int
from w2s_ray.text.prompts import zero_shot
from w2s_ray.text.steps import split_steps

SOURCES = ("gold", "step_check", "monte_carlo")


def labelled_row(gen: dict, steps: list[str], first_error: int | None, source: str) -> dict:
    """Labels 1 up to `first_error` (exclusive), 0 there, the steps after it left out."""
    if first_error is None:
        labels = [1] * len(steps)
    else:
        steps, labels = steps[:first_error + 1], [1] * first_error + [0]
    return {"problem_id": str(gen["problem_id"]), "prompt": zero_shot(gen["question"]), "steps": steps,
            "labels": labels, "source": source, "source_model": str(gen["model"]),
            "sample_index": _as_int(gen.get("sample_index")) or 0, "level": _as_int(gen.get("level"))}


def _first_wrong(gen: dict) -> int | None:
    wrong = [int(i) for i in (gen.get("wrong_steps") if gen.get("wrong_steps") is not None else [])]
    return min(wrong) if wrong else None


def step_labels_from_gold(rows: Iterable[dict], step_sep: str = "line") -> Selection:
    """Rows scored by answer_check and step_check, on problems with gold."""
    out, dropped, n = [], {"no_steps": 0, "no_gold": 0, "wrong_answer_unlocated": 0}, 0
    for gen in rows:
        n += 1
        steps = split_steps(gen.get("text"), step_sep)
        if not steps:
            dropped["no_steps"] += 1
        elif not gen.get("has_gold"):
            dropped["no_gold"] += 1
        elif gen.get("correct") and _first_wrong(gen) is None:
            out.append(labelled_row(gen, steps, None, "gold"))
        elif (first := _first_wrong(gen)) is not None and first < len(steps):
            out.append(labelled_row(gen, steps, first, "gold"))
        else:  # a wrong answer whose error the checker cannot see, or a right one with a wrong step
            dropped["wrong_answer_unlocated"] += 1
    return Selection(out, n_in=n, kept=len(out), dropped=dropped, unit="solution")


def step_labels_from_checker(rows: Iterable[dict], step_sep: str = "line") -> Selection:
    """Rows scored by step_check; gold is never read."""
    out, dropped, n = [], {"no_steps": 0, "unchecked_steps": 0}, 0
    for gen in rows:
        n += 1
        steps = split_steps(gen.get("text"), step_sep)
        first = _first_wrong(gen)
        if not steps:
            dropped["no_steps"] += 1
        elif first is not None and first < len(steps):
            out.append(labelled_row(gen, steps, first, "step_check"))
        elif _as_int(gen.get("n_checkable_steps")) == len(steps):
            out.append(labelled_row(gen, steps, None, "step_check"))
        else:  # some step could not be checked: "no wrong step found" is not "right"
            dropped["unchecked_steps"] += 1
    return Selection(out, n_in=n, kept=len(out), dropped=dropped, unit="solution")


class FirstErrorSearch:
    """OmegaPRM's binary search as a state machine, so that one round of rollouts can serve many
    solutions at once (recipes/easy_to_hard/monte_carlo.py): `probe()` is the prefix length to value next (None:
    done), `record(m, value)` its Monte Carlo value, `first_error` the answer.

    The solution is wrong, so the whole of it has value 0 (never evaluated); the question alone is
    taken to have value > 0 (the caller only searches problems some sample solved). Values are taken
    as monotone along the solution, so ceil(log2 n_steps) values find the first zero-valued prefix m,
    and step m - 1 is the first error.
    """

    def __init__(self, n_steps: int):
        if n_steps < 1:
            raise ValueError("a solution without steps has no first error")
        self.good, self.bad = 0, n_steps  # prefix `good` has value > 0, prefix `bad` has value 0
        self.values: dict[int, float] = {}

    def probe(self) -> int | None:
        return None if self.bad - self.good <= 1 else (self.good + self.bad) // 2

    def record(self, m: int, value: float) -> None:
        self.values[m] = value
        if value > 0:
            self.good = m
        else:
            self.bad = m

    @property
    def first_error(self) -> int:
        return self.bad - 1


def first_error(n_steps: int, value: Callable[[int], float]) -> int:
    """The index of the first step after which no rollout succeeds; `value(m)` is the Monte Carlo
    value of the prefix of the first m steps (the share of k rollouts from it that reach the right
    answer). See FirstErrorSearch."""
    search = FirstErrorSearch(n_steps)
    while (m := search.probe()) is not None:
        search.record(m, value(m))
    return search.first_error
