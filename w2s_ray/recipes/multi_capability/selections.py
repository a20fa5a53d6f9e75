"""The multi-capability recipe's selections over large rows, in Ray Data's workers (issue 30;
stages/select_data.py): none of their rows passes through the driver.

  full weak FT, one capability alone   take_all as a map (a capability: its problems' rows only)
  self-bootstrapping                   metrics.own_outputs as a map over a round's samples
  reward-model selection               select/rerank.reward_cut as a map, its cut decided first over
                                       every solution: a threshold is the cut; for a top fraction the
                                       candidates' rank keys (score, problem, model, sample; no text)
                                       are sorted in Ray Data and the k-th read (stages/data_order.kth_row)

Each equals the list function on the whole stage (take_all, own_outputs, top_by_reward):
tests/test_multi_capability_data.py.
"""
from __future__ import annotations

import functools
import math

import pyarrow as pa

from w2s_ray.recipes.multi_capability.metrics import own_outputs
from w2s_ray.select.rerank import check_reward_cut, reward_candidate, reward_cut, reward_rank
from w2s_ray.stages.select_data import GENERATION_SCHEMA, SFT_SCHEMA, DataSelection, StageData, map_data

SFT_ORDER = ("problem_id", "source_model", "sample_index")  # Selection's sort_key
# The weak solutions as the RM scores them (the capability rides along for the report's judge), and
# as its selection reads them, with the score.
RM_SCORE_INPUT = GENERATION_SCHEMA.append(pa.field("capability", pa.string()))
RANK_COLUMNS = ("_neg_score", "problem_id", "model", "sample_index")  # select/rerank.reward_rank's order


def own_outputs_data(samples: StageData) -> DataSelection:
    """metrics.own_outputs over a sampled stage, as a map."""
    return map_data("own_outputs", samples, own_outputs, GENERATION_SCHEMA, SFT_SCHEMA, SFT_ORDER)


def reward_cut_data(scored: StageData, score_column: str = "reward", top_fraction: float | None = None,
                    threshold: float | None = None) -> DataSelection:
    """select/rerank.top_by_reward over a scored stage: the cut over every solution, then a map."""
    check_reward_cut(top_fraction, threshold)
    schema = RM_SCORE_INPUT.append(pa.field(score_column, pa.float64()))
    if top_fraction is not None:
        last = last_kept(scored, schema, score_column, top_fraction)
        settings = {"score_column": score_column, "last_kept": last}
        cut = {"top_fraction": top_fraction, **({"last_kept_score": -last[0]} if last is not None else {})}
    else:
        settings, cut = {"score_column": score_column, "threshold": threshold}, {"threshold": threshold}
    return DataSelection("reward_cut", {"rows": scored}, SFT_SCHEMA, SFT_ORDER, settings=settings, piece=reward_cut,
                         input_schema=schema, extra={"cut": cut})


def last_kept(scored: StageData, schema: pa.Schema, score_column: str, top_fraction: float) -> tuple | None:
    """reward_rank of the last solution the top fraction keeps (None: it keeps none)."""
    from w2s_ray.stages.data_order import kth_row

    ds = scored.dataset("rows", schema)
    if ds is None:
        return None
    keys = ds.map_batches(functools.partial(_rank_keys, score_column=score_column),
                          batch_format="pyarrow").materialize()
    k = math.ceil(top_fraction * keys.count())
    return kth_row(keys, RANK_COLUMNS, k - 1) if k else None


def _rank_keys(table: pa.Table, score_column: str) -> pa.Table:
    rows = table.select(["problem_id", "model", "sample_index", "text", score_column]).to_pylist()
    keys = [reward_rank(r, score_column) for r in rows if reward_candidate(r, score_column)]
    return pa.table([pa.array([k[i] for k in keys], t) for i, t in enumerate((pa.float64(), pa.string(), pa.string(),
                                                                                pa.int64()))], names=list(RANK_COLUMNS))


__all__ = ["RM_SCORE_INPUT", "last_kept", "own_outputs_data", "reward_cut_data"]
