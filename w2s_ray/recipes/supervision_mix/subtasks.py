"""Supervision sets cut from hard problems (He et al. 2024; METHODS.md section 3), as Selections:

  hard_set       gold solutions of the hard problems (the levels named), the first n
  subtask_set    a middle span of each hard solution's steps, posed as a problem of its own
  rephrased_set  each hard problem in other words, with the same solution (world only)

Their rows are supervision items, not yet SFT rows: error control (error_control.py) reads the
solution and its gold, may replace the solution, and only then are SFT rows built.

  problem_id, source_model, sample_index, kind, question, level, solution, gold, gold_solution

A span is "middle": it starts after the first step and ends before the last, so a subtask is neither
the problem's opening nor its answer. For the demo world the span is posed from the generator's own
step structure (data/world_chain.py): exact. For GSM8K / MATH text the steps are the step checker's
split (score/step_checker.split_steps); the steps before the span are given as what is known, and the
span's answer is the right side of the last equation of its last step, which the step checker must
find right. What cannot be posed that way is dropped and counted by reason, never guessed.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from w2s_ray.data.schema import Problem
from w2s_ray.data.world_chain import WorldChainError, pose_span, read_chain, rephrase, solution_text
from w2s_ray.score.equations import check_equation, find_equations
from w2s_ray.score.step_checker import split_steps
from w2s_ray.select.selection import Selection
from w2s_ray.text.answers import normalize_answer

def _item(problem_id: str, kind: str, question: str, level: int | None, solution: str, gold: str) -> dict:
    return {"problem_id": problem_id, "source_model": "gold", "sample_index": 0, "kind": kind,
            "question": question, "level": level, "solution": solution, "gold": gold, "gold_solution": solution}


def level_of(problem: Problem) -> int | None:
    """Its level; for a problem without one (GSM8K), its number of solution steps up to 5, as a world
    problem's level is its number of steps."""
    if problem.level is not None or not problem.solution:
        return problem.level
    n_steps = len(split_steps(problem.solution))
    return min(n_steps, 5) if n_steps else None


def hard_set(problems: Sequence[Problem], levels: Sequence[int], n: int) -> Selection:
    """The first n problems of the given levels that have a gold solution."""
    rows, dropped = [], Counter()
    for p in problems:
        level = level_of(p)
        if level not in levels:
            dropped["other_level"] += 1
        elif not (p.solution and p.solution.strip()) or p.gold is None:
            dropped["no_gold_solution"] += 1
        elif len(rows) >= n:
            dropped["beyond_n"] += 1
        else:
            rows.append(_item(p.id, "hard", p.question, level, p.solution.strip(), normalize_answer(p.gold)))
    if len(rows) < n:
        raise ValueError(f"supervision_mix.n_hard is {n}, but the weak half has only {len(rows)} problems of levels "
                         f"{list(levels)} with a gold solution")
    return Selection(rows=rows, n_in=len(problems), kept=len(rows), dropped=dict(dropped))


def middle_span(n_steps: int, span: int, rng: random.Random) -> tuple[int, int] | None:
    """[i, j): `span` steps, not the first and not the last; None where the solution is too short."""
    if n_steps < span + 2:
        return None
    i = rng.randint(1, n_steps - span - 1)
    return i, i + span


def _rng(seed: int, problem_id: str) -> random.Random:
    return random.Random(f"{seed}:{problem_id}")


def world_subtask(row: dict, span: int, seed: int) -> dict:
    """The subtask of one world hard item; WorldChainError / ValueError say why it cannot be posed."""
    chain = read_chain(row["question"], row["gold_solution"])
    where = middle_span(len(chain.steps), span, _rng(seed, row["problem_id"]))
    if where is None:
        raise ValueError("too_few_steps")
    question, steps = pose_span(chain, *where)
    return _item(f"{row['problem_id']}/steps{where[0]}-{where[1]}", "subtask", question, len(steps),
                 solution_text(steps), str(steps[-1].result))


class NotPosable(ValueError):
    """A span that cannot be posed cleanly; the message is the reason it is counted under."""


def text_subtask(row: dict, span: int, seed: int, step_sep: str = "line") -> dict:
    """The subtask of one GSM8K / MATH hard item: the question, the steps before the span as what is
    known, and the span as its solution; its answer is the last equation's right side (NotPosable else)."""
    steps = split_steps(row["gold_solution"], step_sep)
    where = middle_span(len(steps), span, _rng(seed, row["problem_id"]))
    if where is None:
        raise NotPosable("too_few_steps")
    i, j = where
    equations = find_equations(steps[j - 1].split("\n")[-1])
    if not equations:
        raise NotPosable("no_equation_in_last_step")
    verdict = check_equation(equations[-1])
    if verdict is None:
        raise NotPosable("last_equation_not_computable")
    if not verdict:
        raise NotPosable("last_equation_wrong")
    answer = normalize_answer(" ".join(t.text for t in equations[-1].right_tokens))
    if not answer:
        raise NotPosable("no_answer_on_the_right")
    sep = "\n\n" if step_sep == "blank_line" else "\n"
    known = sep.join(steps[:i])
    question = (f"{row['question']}\nWhat is known so far:\n{known}\n"
                f"Work out the next {j - i} step{'s' if j - i > 1 else ''}.")
    solution = sep.join(steps[i:j]) + f"\n#### {answer}"
    return _item(f"{row['problem_id']}/steps{i}-{j}", "subtask", question, j - i, solution, answer)


def subtask_set(hard_rows: Sequence[dict], span: int, seed: int, world: bool, step_sep: str = "line") -> Selection:
    rows, dropped = [], Counter()
    for row in hard_rows:
        try:
            rows.append(world_subtask(row, span, seed) if world else text_subtask(row, span, seed, step_sep))
        except WorldChainError:
            dropped["not_a_world_chain"] += 1
        except ValueError as err:  # NotPosable and too_few_steps: the reason is the message
            dropped[str(err)] += 1
    return Selection(rows=rows, n_in=len(hard_rows), kept=len(rows), dropped=dict(dropped))


def rephrased_set(hard_rows: Sequence[dict], seed: int) -> Selection:
    """Each world hard item reworded (every step sentence in another wording), same solution."""
    rows, dropped = [], Counter()
    for row in hard_rows:
        try:
            chain = read_chain(row["question"], row["gold_solution"])
        except WorldChainError:
            dropped["not_a_world_chain"] += 1
            continue
        question = rephrase(chain, _rng(seed, row["problem_id"]))
        rows.append(_item(f"{row['problem_id']}/rephrased", "rephrased", question, row["level"],
                          row["gold_solution"], row["gold"]))
    return Selection(rows=rows, n_in=len(hard_rows), kept=len(rows), dropped=dict(dropped))
