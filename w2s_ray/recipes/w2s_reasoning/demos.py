"""The strong model's in-context demos (METHODS.md 1.2): weak outputs on the strong half, right or wrong.

loop.demos "fixed" (authors' default): one set of strong.shots demos for every question, drawn as
GAIR-NLP/weak-to-strong-reasoning's src/prompt/demonstrations.py get_few_shot_prompts draws it
(commit 596a0b6, lines 456-480): seed the generator, shuffle the weak outputs, keep the first ones
that state an answer. Its demos are not checked against gold: some are wrong, as in the paper.
"per_problem" (ours): the whole pool, each problem drawing its own (text/prompts.py pick_demos).
The drawn set is a stage of its own, so its rows and seed are in the manifest and its hash is an
input of every generation that shows it.

Only "per_problem" reads the weak rows into the driver (generation is handed the whole pool). The
fixed draw reads the pool's keys (problem id, teacher, whether it states an answer: one short row a
greedy solution, none for the samples) in Ray Data, shuffles their indices as draw_fixed shuffles the
pool, and fetches the k rows drawn; a run that shows no demos reads nothing.
"""
from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.stages.select_data import StageData
from w2s_ray.text.prompts import FixedDemos

if TYPE_CHECKING:  # the workers import this module for its maps: not the stages' (torch, vLLM) imports
    from w2s_ray.run.context import RunContext

DEMOS_STAGE = "stage1/demos"


def demo_pool(weak_rows: Sequence[dict]) -> list[dict]:
    """Every weak teacher's greedy solution with text, as demo candidates, in (problem, teacher) order."""
    return [_demo(r) for r in sorted((r for r in weak_rows if _candidate(r)), key=_pool_order)]


def _candidate(row: dict) -> bool:
    return bool((row["text"] or "").strip()) and row["sample_index"] == 0


def _pool_order(row: dict) -> tuple[str, str]:
    return str(row["problem_id"]), str(row["model"])


def _states_answer(row: dict) -> bool:
    return bool(str(row.get("answer") or "").strip())


def _demo(row: dict) -> dict:
    return {"id": row["problem_id"], "question": row["question"], "solution": row["text"], "answer": row["answer"],
            "model": row["model"]}


def draw_fixed(pool: Sequence[dict], k: int, seed: int) -> FixedDemos:
    """The authors' draw: shuffle with `seed`, the first k that state an answer."""
    shuffled = list(pool)
    random.Random(seed).shuffle(shuffled)
    chosen = [d for d in shuffled if _states_answer(d)][:k]
    _check_drawn(len(chosen), k)
    return FixedDemos(chosen)


def _check_drawn(n: int, k: int) -> None:
    if n < k:
        raise ValueError(f"a fixed set of {k} demos needs {k} weak outputs that state an answer; the pool has {n}")


def draw_fixed_data(weak: StageData, k: int, seed: int) -> tuple[FixedDemos, int]:
    """draw_fixed(demo_pool(the rows of `weak`), k, seed) and the pool's size, with only the pool's keys
    in the driver: random.shuffle moves items by index, so shuffling the indices of the pool's keys in
    pool order picks the positions shuffling the pool would."""
    import ray

    ds = weak.dataset("weak")
    tables = [] if ds is None else ray.get(ds.map_batches(_pool_keys, batch_format="pyarrow").to_arrow_refs())
    keys = sorted((r["problem_id"], r["model"], r["states_answer"]) for t in tables for r in t.to_pylist())
    order = list(range(len(keys)))
    random.Random(seed).shuffle(order)
    chosen = [keys[i][:2] for i in order if keys[i][2]][:k]
    _check_drawn(len(chosen), k)
    wanted = frozenset(chosen)
    rows = ray.get(ds.map_batches(functools.partial(_rows_of, keys=wanted), batch_format="pyarrow").to_arrow_refs())
    by_key = {_pool_order(r): _demo(r) for t in rows for r in t.to_pylist()}
    return FixedDemos([by_key[key] for key in chosen]), len(keys)


def _pool_keys(table: pa.Table) -> pa.Table:
    rows = [r for r in table.select(["problem_id", "model", "sample_index", "text", "answer"]).to_pylist()
            if _candidate(r)]
    return pa.table({"problem_id": pa.array([_pool_order(r)[0] for r in rows], pa.string()),
                     "model": pa.array([_pool_order(r)[1] for r in rows], pa.string()),
                     "states_answer": pa.array([_states_answer(r) for r in rows], pa.bool_())})


def _rows_of(table: pa.Table, keys: frozenset) -> pa.Table:
    rows = [r for r in table.to_pylist() if _candidate(r) and _pool_order(r) in keys]
    return pa.Table.from_pylist(rows, schema=table.schema)


def stage_demos(ctx: RunContext, weak_results: dict[str, StageResult]) -> tuple[Sequence[dict], dict[str, StageResult]]:
    """(the demos to pass to generation, the stages they come from) under loop.demos."""
    from w2s_ray.stages.steps import stage_rows

    cfg = ctx.config
    # A run that no stage shows demos to (no round, no few-shot Stage II) draws none and reads nothing.
    k = max(cfg.strong.shots if cfg.loop.rounds else 0, cfg.stage2.shots if cfg.stage2 is not None else 0)
    if k == 0:
        return [], weak_results
    if cfg.loop.demos == "per_problem":
        return demo_pool([row for result in weak_results.values() for row in stage_rows(result)]), weak_results

    def body() -> StageResult:
        weak = StageData([result.output("rows") for result in weak_results.values()])
        demos, pool_size = draw_fixed_data(weak, k, cfg.loop.demo_seed)
        return StageResult(outputs={"rows": write_stage(ctx.stage_dir(DEMOS_STAGE), list(demos))},
                           rows_in=pool_size, rows_out=len(demos),
                           metrics={"seed": cfg.loop.demo_seed, "ids": [d["id"] for d in demos]})

    result = run_stage(ctx.manifest, DEMOS_STAGE, body, upstream=weak_results,
                       inputs={"seed": str(cfg.loop.demo_seed)})
    return FixedDemos(stage_rows(result)), {**weak_results, "demos": result}
