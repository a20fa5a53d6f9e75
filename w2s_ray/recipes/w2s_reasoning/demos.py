"""The strong model's in-context demos (METHODS.md 1.2): weak outputs on the strong half, right or wrong.

loop.demos "fixed" (authors' default): one set of strong.shots demos for every question, drawn as
GAIR-NLP/weak-to-strong-reasoning's src/prompt/demonstrations.py get_few_shot_prompts draws it
(commit 596a0b6, lines 456-480): seed the generator, shuffle the weak outputs, keep the first ones
that state an answer. Its demos are not checked against gold: some are wrong, as in the paper.
"per_problem" (ours): the whole pool, each problem drawing its own (text/prompts.py pick_demos).
The drawn set is a stage of its own, so its rows and seed are in the manifest and its hash is an
input of every generation that shows it.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.stages.steps import stage_rows
from w2s_ray.text.prompts import FixedDemos

DEMOS_STAGE = "stage1/demos"


def demo_pool(weak_rows: Sequence[dict]) -> list[dict]:
    """Every weak teacher's greedy solution with text, as demo candidates, in (problem, teacher) order."""
    rows = sorted((r for r in weak_rows if (r["text"] or "").strip() and r["sample_index"] == 0),
                  key=lambda r: (str(r["problem_id"]), str(r["model"])))
    return [{"id": r["problem_id"], "question": r["question"], "solution": r["text"], "answer": r["answer"],
             "model": r["model"]} for r in rows]


def draw_fixed(pool: Sequence[dict], k: int, seed: int) -> FixedDemos:
    """The authors' draw: shuffle with `seed`, the first k that state an answer."""
    shuffled = list(pool)
    random.Random(seed).shuffle(shuffled)
    chosen = [d for d in shuffled if str(d.get("answer") or "").strip()][:k]
    if len(chosen) < k:
        raise ValueError(f"a fixed set of {k} demos needs {k} weak outputs that state an answer; "
                         f"the pool has {len(chosen)}")
    return FixedDemos(chosen)


def stage_demos(ctx: RunContext, weak_results: dict[str, StageResult]) -> tuple[Sequence[dict], dict[str, StageResult]]:
    """(the demos to pass to generation, the stages they come from) under loop.demos."""
    cfg = ctx.config
    pool = demo_pool([row for result in weak_results.values() for row in stage_rows(result)])
    # A run that no stage shows demos to (no round, no few-shot Stage II) draws none.
    k = max(cfg.strong.shots if cfg.loop.rounds else 0, cfg.stage2.shots if cfg.stage2 is not None else 0)
    if cfg.loop.demos == "per_problem" or k == 0:
        return pool, weak_results

    def body() -> StageResult:
        demos = draw_fixed(pool, k, cfg.loop.demo_seed)
        return StageResult(outputs={"rows": write_stage(ctx.stage_dir(DEMOS_STAGE), list(demos))},
                           rows_in=len(pool), rows_out=len(demos),
                           metrics={"seed": cfg.loop.demo_seed, "ids": [d["id"] for d in demos]})

    result = run_stage(ctx.manifest, DEMOS_STAGE, body, upstream=weak_results,
                       inputs={"seed": str(cfg.loop.demo_seed)})
    return FixedDemos(stage_rows(result)), {**weak_results, "demos": result}
