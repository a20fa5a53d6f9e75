"""Error control and measurement of a supervision set (He et al. 2024; METHODS.md section 3).

`inject_errors` replaces exactly round(rate * n) correct solutions with incorrect ones, by planting a
wrong step in the world's step structure:
  final  the last step's result is wrong (and so the answer): one wrong step per corrupted solution
  early  the first step's result is wrong and every later step is redone, correctly, from it: the
         error propagates, so every step of a corrupted solution differs from gold
Both modes corrupt the same solutions (chosen among those both can corrupt, in an order seeded apart
from the mode), so a pair of sets at one rate differs in step-wise error only.

`measure` is what a set is, before any training: outcome error (the final answer is not gold) and
step-wise error (wrong steps / all steps). In the world a step is wrong when it is not the gold
step, value for value (a propagated step is wrong though its arithmetic holds); on text, only the
step checker's arithmetic is available, which sees a propagated error as one wrong step.
Both are reported for the world, so the two can be compared.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from w2s_ray.data.world import MAX_VALUE, Step
from w2s_ray.data.world_chain import parse_step_line, propagate, solution_text
from w2s_ray.score.step_checker import check_steps, split_steps
from w2s_ray.select.selection import Selection, sft_row
from w2s_ray.text.answers import extract_answer, normalize_answer

ErrorStep = Literal["final", "early"]
MAX_SHIFT = 5  # a wrong value is within this of the right one where it can be: a slip, not noise


class ErrorTargetUnreachable(ValueError):
    """Fewer solutions can be corrupted than the target outcome error rate needs."""


def _steps(row: dict) -> tuple[Step, ...]:
    lines = split_steps(row["gold_solution"])
    return tuple(parse_step_line(line) for line in lines)


def _corrupt(steps: tuple[Step, ...], mode: ErrorStep, rng: random.Random,
             max_value: int = MAX_VALUE) -> tuple[Step, ...] | None:
    """The steps with a wrong step planted as `mode` says, its answer not the gold; None if impossible."""
    at = len(steps) - 1 if mode == "final" else 0
    right, gold = steps[at].result, steps[-1].result
    shifts = [d for d in range(-max_value, max_value + 1) if d and 1 <= right + d <= max_value]
    near = [d for d in shifts if abs(d) <= MAX_SHIFT]
    rng.shuffle(near)  # a slip near the right value where one propagates, else the nearest that does
    for shift in near + sorted((d for d in shifts if abs(d) > MAX_SHIFT), key=lambda d: (abs(d), d)):
        wrong = propagate(steps, at, right + shift, max_value)
        if wrong is not None and wrong[-1].result != gold:
            return wrong
    return None


def inject_errors(rows: Sequence[dict], rate: float, mode: ErrorStep, seed: int) -> tuple[list[dict], dict]:
    """(rows with exactly round(rate * len(rows)) solutions made wrong, what was done). Each row gets
    `corrupted`. Raises ErrorTargetUnreachable where too few rows can be corrupted."""
    n_wrong = round(rate * len(rows))
    order = list(range(len(rows)))
    random.Random(f"{seed}:errors").shuffle(order)  # the mode is not in the seed: final and early pick alike
    chosen, out = set(), [dict(r, corrupted=False) for r in rows]
    planted = {}
    for index in order:
        if len(chosen) == n_wrong:
            break
        steps = _steps(rows[index])
        # Chosen only where both modes can plant their error, so the paired sets corrupt the same rows.
        trials = {m: _corrupt(steps, m, random.Random(f"{seed}:{rows[index]['problem_id']}")) for m in ("final", "early")}
        if all(trials.values()):
            chosen.add(index)
            planted[index] = trials[mode]
    if len(chosen) < n_wrong:
        raise ErrorTargetUnreachable(f"outcome error {rate} of {len(rows)} solutions needs {n_wrong} wrong ones; "
                                     f"only {len(chosen)} can be corrupted")
    for index, steps in planted.items():
        out[index].update(solution=solution_text(steps), corrupted=True)
    return out, {"target_outcome_error": rate, "n_corrupted": n_wrong, "n": len(rows), "mode": mode}


def final_answer(solution: str) -> str:
    return normalize_answer(extract_answer(solution))


def measure(rows: Sequence[dict], world: bool, step_sep: str = "line") -> dict:
    """Outcome and step-wise error of a supervision set (see the module doc); step_error is from gold
    steps in the world, from the step checker elsewhere; checker_step_error is always the checker's."""
    n_wrong_outcome = steps = wrong_steps = checker_steps = checker_wrong = 0
    for row in rows:
        n_wrong_outcome += final_answer(row["solution"]) != normalize_answer(row["gold"])
        checked = check_steps(row["solution"], step_sep)
        checker_steps += checked["n_steps"]
        checker_wrong += checked["n_wrong_steps"]
        if world:
            given, gold = split_steps(row["solution"]), split_steps(row["gold_solution"])
            steps += max(len(given), len(gold))
            wrong_steps += sum(a != b for a, b in zip(given, gold)) + abs(len(given) - len(gold))
    if not world:
        steps, wrong_steps = checker_steps, checker_wrong
    n = len(rows)
    return {"n": n, "outcome_error": n_wrong_outcome / n if n else None, "n_wrong_outcome": n_wrong_outcome,
            "step_error": wrong_steps / steps if steps else None, "n_steps": steps, "n_wrong_steps": wrong_steps,
            "step_error_from": "gold steps" if world else "step checker",
            "checker_step_error": checker_wrong / checker_steps if checker_steps else None}


@dataclass
class MixSelection(Selection):
    """A mix's SFT rows, with the measurement of the set they were built from (in the stage's metrics)."""

    measurement: dict = field(default_factory=dict)

    def stats(self) -> dict:
        return {**super().stats(), "supervision": self.measurement}


def build_mix(part_rows: dict[str, list[dict]], parts: Sequence, seed: int, world: bool,
              step_sep: str = "line") -> MixSelection:
    """One supervision set: each part's items (`parts`: kind, outcome_error, error_step) with its
    errors planted, measured per part and as a whole, as SFT rows (zero-shot prompt, the solution)."""
    items, by_part = [], {}
    for part in parts:
        rows = part_rows[part.kind]
        injected = None
        if part.outcome_error:
            if not world:
                raise ValueError("error injection needs the world's step structure (data.source: world)")
            rows, injected = inject_errors(rows, part.outcome_error, part.error_step, seed)
        by_part[part.kind] = {**measure(rows, world, step_sep), "injected": injected}
        items += rows
    sft = [sft_row({"problem_id": r["problem_id"], "question": r["question"], "text": r["solution"],
                    "model": r["kind"], "sample_index": 0, "level": r["level"],
                    "answer": final_answer(r["solution"])}, "supervision") for r in items]
    return MixSelection(rows=sft, n_in=len(items), kept=len(items), dropped={}, unit="solution",
                        measurement={**measure(items, world, step_sep), "parts": by_part})
