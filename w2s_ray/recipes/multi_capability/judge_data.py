"""The RM's kept weak solutions judged against the strong half's gold, after the fact, in Ray Data's
workers (issue 30): every scored weak solution and the kept rows' keys, grouped by problem; each
group counts its solutions, kept ones and right ones per capability (metrics.judge_counts), and the
driver adds up one small row per problem. Run as the report stage `rm/judge`, after the selection and
outside it: the gold never reaches a selection or a training stage."""
from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Mapping

import pyarrow as pa

from w2s_ray.recipes.multi_capability.metrics import judge_counts, judged
from w2s_ray.recipes.multi_capability.selections import RM_SCORE_INPUT
from w2s_ray.run.shuffle import group_by, parquet_bytes
from w2s_ray.select.grouped import SIDE
from w2s_ray.stages.select_data import StageData

_S, _I = pa.string(), pa.int64()
# A kept row's key, and a scored row, in one schema: the kept side fills source_model.
JUDGE_INPUT = RM_SCORE_INPUT.append(pa.field("source_model", _S))
COUNTS = "_counts"


def judge_data(kept: StageData, scored: StageData, gold: Mapping[str, str]) -> dict[str, dict]:
    """metrics.judge_selection(kept rows, scored rows, gold), the rows in the workers."""
    sides = [ds for ds in (kept.dataset("kept", JUDGE_INPUT), scored.dataset("scored", JUDGE_INPUT)) if ds is not None]
    if len(sides) < 2:
        return judged({})
    nbytes = parquet_bytes(kept.files()) + parquet_bytes(scored.files())
    per_problem = group_by(sides[0].union(sides[1]), "problem_id", nbytes).map_groups(
        functools.partial(_judge_group, gold=dict(gold)), batch_format="pyarrow")
    totals: dict[str, Counter] = {}
    for row in per_problem.take_all():  # one small row a problem
        for cap, counts in json.loads(row[COUNTS]).items():
            totals.setdefault(cap, Counter()).update(counts)
    return judged(totals)


def _judge_group(table: pa.Table, gold: dict[str, str]) -> pa.Table:
    rows = table.to_pylist()
    kept = [r for r in rows if r[SIDE] == "kept"]
    counts = judge_counts(kept, [r for r in rows if r[SIDE] == "scored"], gold)
    return pa.table({COUNTS: [json.dumps({cap: dict(c) for cap, c in counts.items()})]})


__all__ = ["judge_data"]
