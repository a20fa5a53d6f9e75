"""Consistency filter: Stage I of weak-to-strong reasoning (Yang et al. 2024, METHODS.md section 1).

Keep a problem when a weak teacher's final answer and the strong model's final answer are both
non-empty and equal after normalisation; the agreeing solutions become SFT rows. No gold label is
read: agreement between two imperfect models is the whole signal.

Several weak teachers: agreement is judged per (teacher, problem) against the one strong answer.
A kept problem contributes one SFT row per agreeing teacher plus one strong row (never one strong
row per agreeing teacher, which would weight the strong solution by the number of teachers).

Accounting is per problem (the union of problem ids on both sides). A dropped problem gets one
reason, the first that applies:
  missing_weak    no weak teacher answered it
  missing_strong  the strong model did not answer it
  weak_empty      every weak teacher's answer is empty
  strong_empty    the strong answer is empty
  disagree        some weak answer is non-empty, none equals the strong answer
Per-teacher counts (same reasons, per (teacher, problem)) go to `Selection.by_teacher`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from w2s_ray.select.selection import Selection, check_role, first_samples, group_weak_by_problem, sft_row
from w2s_ray.text.answers import normalize_answer


def consistency_filter(weak_rows: Sequence[dict], strong_rows: Sequence[dict]) -> Selection:
    check_role(weak_rows, "weak", "weak_rows")
    check_role(strong_rows, "strong", "strong_rows")
    strong_models = sorted({str(r["model"]) for r in strong_rows})
    if len(strong_models) > 1:
        raise ValueError(f"consistency_filter compares against one strong model; strong_rows hold {strong_models}")

    strong = {pid: row for (pid,), row in first_samples(strong_rows, ("problem_id",)).items()}
    weak_by_problem, teachers = group_weak_by_problem(weak_rows)
    problems = sorted(set(strong) | set(weak_by_problem))

    rows: list[dict] = []
    dropped: Counter[str] = Counter()
    per_teacher = {t: {"kept": 0, "dropped": Counter()} for t in teachers}
    for pid in problems:
        strong_row = strong.get(pid)
        strong_answer = normalize_answer(strong_row["answer"]) if strong_row is not None else ""
        weak_answers = {t: normalize_answer(row["answer"]) for t, row in weak_by_problem.get(pid, {}).items()}
        for teacher in teachers:
            reason = _pair_reason(weak_answers.get(teacher), strong_row is not None, strong_answer)
            if reason is None:
                per_teacher[teacher]["kept"] += 1
                rows.append(sft_row(weak_by_problem[pid][teacher], "weak"))
            else:
                per_teacher[teacher]["dropped"][reason] += 1
        if any(a and a == strong_answer for a in weak_answers.values()):
            rows.append(sft_row(strong_row, "strong"))
        else:
            dropped[_problem_reason(weak_answers, strong_row is not None, strong_answer)] += 1

    by_teacher = {t: {"kept": c["kept"], "dropped": dict(sorted(c["dropped"].items()))} for t, c in per_teacher.items()}
    return Selection(rows=rows, n_in=len(problems), kept=len(problems) - sum(dropped.values()),
                     dropped=dict(dropped), unit="problem", by_teacher=by_teacher)


def _pair_reason(weak_answer: str | None, has_strong: bool, strong_answer: str) -> str | None:
    """Why one teacher's answer to one problem is not kept; None when it is."""
    if weak_answer is None:
        return "missing_weak"
    if not has_strong:
        return "missing_strong"
    if not weak_answer:
        return "weak_empty"
    if not strong_answer:
        return "strong_empty"
    return None if weak_answer == strong_answer else "disagree"


def _problem_reason(weak_answers: dict[str, str], has_strong: bool, strong_answer: str) -> str:
    if not weak_answers:
        return "missing_weak"
    if not has_strong:
        return "missing_strong"
    if not any(weak_answers.values()):
        return "weak_empty"
    if not strong_answer:
        return "strong_empty"
    return "disagree"
