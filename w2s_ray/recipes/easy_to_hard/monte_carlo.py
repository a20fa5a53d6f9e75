"""OmegaPRM's Monte Carlo step labels (Luo et al. 2024; METHODS.md 4) as stages of a run.

For each wrong solution, a binary search (select.step_labels.FirstErrorSearch) for the first step
after which no rollout reaches the right answer. One round serves every solution under search: the
prefixes each search probes next become one generate stage (`KEY/rollouts_R`, k samples per prefix
with the vLLM engine, scored by answer_check against gold), so the rounds are ceil(log2(most steps)),
each a resumable stage. Right solutions are labelled right throughout without rollouts (every prefix
of a solution that reaches the answer can reach it). `KEY/labels` holds the labelled rows, each with
the prefix values it measured, source "monte_carlo".
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence

from w2s_ray.config import TeacherConfig
from w2s_ray.recipes.easy_to_hard.step_labels import FirstErrorSearch, labelled_row
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.select.selection import Selection
from w2s_ray.stages.steps import Model, checkpoint_of, generate_and_score, select, stage_rows
from w2s_ray.text.steps import join_steps, split_steps


def solution_id(row: dict) -> str:
    return f"{row['problem_id']}|{row['model']}|{int(row['sample_index'])}"


def rollout_problems(probes: dict[str, int], by_id: dict[str, dict], steps: dict[str, list[str]],
                     step_sep: str = "line") -> list[dict]:
    """One problem per probed prefix: the solution's first m steps, re-joined in its own step format
    (a blank-line solution's prefix joined by single newlines would read as one paragraph, one step)."""
    return [{"id": f"{sid}@{m}", "question": by_id[sid]["question"], "gold": by_id[sid]["gold"],
             "level": by_id[sid]["level"], "prefix": " " + join_steps(steps[sid][:m], step_sep)}
            for sid, m in sorted(probes.items())]


def monte_carlo_labels(ctx: RunContext, key: str, base: TeacherConfig, model: Model, solutions: Sequence[dict],
                       k: int, step_sep: str = "line", temperature: float = 1.0, seed: int = 0,
                       upstream: Mapping[str, StageResult] | None = None) -> StageResult:
    """`solutions`: generation rows scored by answer_check, on problems with gold, from the stages
    `upstream`; rollouts by `model`."""
    rollout = base.model_copy(update={"name": "mc-rollouts", "shots": 0, "n": k, "temperature": temperature,
                                      "seed": seed, "scorers": [ScorerSpec(name="answer_check")]})
    steps = {solution_id(r): split_steps(r.get("text"), step_sep) for r in solutions}
    searches = {sid: FirstErrorSearch(len(s)) for sid, s in steps.items()
                if s and not next(r for r in solutions if solution_id(r) == sid).get("correct")}
    by_id = {solution_id(r): r for r in solutions}
    round_ = 0
    while probes := {sid: m for sid, search in searches.items() if (m := search.probe()) is not None}:
        round_ += 1
        problems = rollout_problems(probes, by_id, steps, step_sep)
        digest = hashlib.sha256(json.dumps(problems, sort_keys=True).encode()).hexdigest()[:16]
        result = generate_and_score(ctx, f"{key}/rollouts_{round_}", rollout, model, problems,
                                    upstream=upstream, settings={"prefixes": digest})
        right, total = defaultdict(int), defaultdict(int)
        for row in stage_rows(result):
            total[row["problem_id"]] += 1
            right[row["problem_id"]] += bool(row["correct"])
        for sid, m in probes.items():
            pid = f"{sid}@{m}"
            searches[sid].record(m, right[pid] / total[pid] if total[pid] else 0.0)

    def make(_) -> Selection:  # from the searches, which read every round's rollouts
        rows, dropped = [], {"no_steps": 0}
        for sid in sorted(steps):
            if not steps[sid]:
                dropped["no_steps"] += 1
                continue
            search = searches.get(sid)
            row = labelled_row(by_id[sid], steps[sid], None if search is None else search.first_error, "monte_carlo")
            # [[prefix length, value], ...]: a list column (a dict's keys would differ row to row in Arrow)
            row["prefix_values"] = [] if search is None else [[float(m), v] for m, v in sorted(search.values.items())]
            rows.append(row)
        return Selection(rows, n_in=len(steps), kept=len(rows), dropped=dropped, unit="solution")

    return select(ctx, f"{key}/labels", make, upstream={**checkpoint_of(model), **(upstream or {})},
                  settings={"rounds": str(round_)})
