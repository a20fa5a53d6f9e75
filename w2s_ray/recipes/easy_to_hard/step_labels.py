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

With `with_answer` (easy_to_hard.prm_answer_step, the authors' default) the final-answer step
("#### 19", text/steps.solution_steps) is labelled after the others: right where the answer is right
(gold) or restates the last step's result (step_check), the first error where it is wrong and differs
from that result (an error located on the answer line itself). A wrong answer that restates the last
result has its error somewhere unseen: dropped, as before.

Unlike the weak-to-strong selections, `gold` reads gold on purpose: the easy levels' gold is the
supervision easy-to-hard is allowed (Sun et al. 2024). The other two never read it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from w2s_ray.select.selection import Selection, _as_int
from w2s_ray.text.answers import normalize_answer
from w2s_ray.text.prompts import zero_shot
from w2s_ray.text.steps import answer_step, split_steps

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


_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def restates_last_result(steps: list[str], answer: str) -> bool | None:
    """Whether the answer step states the last step's last number (None: that step has none)."""
    numbers = _NUMBER_RE.findall(steps[-1]) if steps else []
    if not numbers:
        return None
    return normalize_answer(answer.removeprefix("####").strip()) == normalize_answer(numbers[-1])


def step_labels_from_gold(rows: Iterable[dict], step_sep: str = "line", with_answer: bool = False) -> Selection:
    """Rows scored by answer_check and step_check, on problems with gold."""
    out, dropped, n = [], {"no_steps": 0, "no_gold": 0, "wrong_answer_unlocated": 0}, 0
    for gen in rows:
        n += 1
        steps = split_steps(gen.get("text"), step_sep)
        answer = answer_step(gen.get("text")) if with_answer and steps else None
        first = _first_wrong(gen)
        if not steps:
            dropped["no_steps"] += 1
        elif not gen.get("has_gold"):
            dropped["no_gold"] += 1
        elif first is not None and first < len(steps):
            out.append(labelled_row(gen, steps, first, "gold"))
        elif gen.get("correct") and first is None:
            out.append(labelled_row(gen, steps + [answer] if answer else steps, None, "gold"))
        elif not gen.get("correct") and first is None and answer and restates_last_result(steps, answer) is False:
            out.append(labelled_row(gen, steps + [answer], len(steps), "gold"))  # the answer line is the error
        else:  # a wrong answer whose error the checker cannot see, or a right one with a wrong step
            dropped["wrong_answer_unlocated"] += 1
    return Selection(out, n_in=n, kept=len(out), dropped=dropped, unit="solution")


def step_labels_from_checker(rows: Iterable[dict], step_sep: str = "line", with_answer: bool = False) -> Selection:
    """Rows scored by step_check; gold is never read."""
    out, dropped, n = [], {"no_steps": 0, "unchecked_steps": 0}, 0
    for gen in rows:
        n += 1
        steps = split_steps(gen.get("text"), step_sep)
        answer = answer_step(gen.get("text")) if with_answer and steps else None
        first = _first_wrong(gen)
        if not steps:
            dropped["no_steps"] += 1
        elif first is not None and first < len(steps):
            out.append(labelled_row(gen, steps, first, "step_check"))
        elif _as_int(gen.get("n_checkable_steps")) == len(steps):
            restates = restates_last_result(steps, answer) if answer else None
            if restates is None:  # no answer step to judge without gold: the steps alone, as before
                out.append(labelled_row(gen, steps, None, "step_check"))
            else:
                out.append(labelled_row(gen, steps + [answer], None if restates else len(steps), "step_check"))
        else:  # some step could not be checked: "no wrong step found" is not "right"
            dropped["unchecked_steps"] += 1
    return Selection(out, n_in=n, kept=len(out), dropped=dropped, unit="solution")


LABEL_SOURCES = {"gold": step_labels_from_gold, "step_check": step_labels_from_checker}


def step_labels(rows: Iterable[dict], source: str, step_sep: str = "line", with_answer: bool = False) -> Selection:
    """The labels of `source` ("gold" or "step_check"); each row is labelled on its own, so a batch's
    labels are the whole input's labels of that batch (recipes/easy_to_hard/data.py maps it)."""
    if source not in LABEL_SOURCES:
        raise ValueError(f"step label source must be one of {sorted(LABEL_SOURCES)}, got {source!r}")
    return LABEL_SOURCES[source](rows, step_sep, with_answer)


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
