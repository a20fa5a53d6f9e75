"""LightReasoner's selections as maps in Ray Data's workers (stages/select_data.map_data): the
contrast rows (a forced-token and a KL list per solution, a target list per step) and the steps
kept from them never pass through the driver.

  KL steps      select.select_steps on each batch of solutions: each step is kept on its own KL.
                With keep_fraction, beta first rises to the KL quantile: the steps' KLs are sorted in
                Ray Data and the quantile's value read from the sorted run (stages/data_order.py)
  RS-SFT        select.rejection_sampling_sft on each batch of samples: each sample kept on its own

Each equals the list function on the whole stage: tests/test_recipe_pieces.py without Ray,
tests/test_recipe_data_ray.py through Ray.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pyarrow as pa

from w2s_ray.recipes.light_reasoner.select import rejection_sampling_sft, select_steps, step_kls
from w2s_ray.stages.select_data import SFT_SCHEMA, DataSelection, StageData, map_data

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
KL_INPUT = pa.schema([("problem_id", _S), ("model", _S), ("sample_index", _I), ("contrast_ids", pa.list_(_I)),
                      ("contrast_prompt_len", _I), ("contrast_kl", pa.list_(_F)),
                      ("contrast_mask_ids", pa.list_(pa.list_(_I))), ("contrast_logp_expert", pa.list_(pa.list_(_F))),
                      ("contrast_logp_amateur", pa.list_(pa.list_(_F)))])
STEP_SCHEMA = pa.schema([("problem_id", _S), ("source_model", _S), ("sample_index", _I), ("step", _I), ("kl", _F),
                         ("input_ids", pa.list_(_I)), ("target_ids", pa.list_(_I)), ("target_probs", pa.list_(_F))])
STEP_ORDER = ("problem_id", "source_model", "sample_index", "step")  # Selection's sort_key, then the step
RS_INPUT = pa.schema([("problem_id", _S), ("model", _S), ("role", _S), ("sample_index", _I), ("question", _S),
                      ("text", _S), ("answer", _S), ("level", _I), ("correct", _B), ("prompt", _S)])


def higher_quantile_index(n: int, q: float) -> int:
    """The index np.quantile(values, q, method="higher") reads of n sorted values (numpy's own formula)."""
    return int(np.ceil((n - 1) * np.float64(q)))


def _kl_table(table: pa.Table, first_step: int) -> pa.Table:
    return pa.table({"kl": pa.array(step_kls(table.select(["contrast_kl"]).to_pylist(), first_step), _F)})


def kl_quantile_beta_data(contrast: StageData, keep_fraction: float, first_step: int) -> float:
    """select.kl_quantile_beta over a contrast stage: the steps' KLs a column of their own, sorted."""
    from w2s_ray.stages.data_order import kth_smallest

    ds = contrast.dataset("contrast", KL_INPUT)
    if ds is None:
        return math.inf
    kls = ds.map_batches(functools.partial(_kl_table, first_step=first_step), batch_format="pyarrow").materialize()
    n = kls.count()
    if n == 0:
        return math.inf
    return kth_smallest(kls, "kl", higher_quantile_index(n, 1.0 - keep_fraction))


def kl_steps_data(contrast: StageData, beta: float, keep_fraction: float | None = None, first_step: int = 0,
                  epsilon: float = 0.0) -> DataSelection:
    """select_steps over a contrast stage, as a map; beta decided first, over every step, as select_steps
    decides it (and recorded as it records it)."""
    if keep_fraction is not None:
        beta = max(beta, kl_quantile_beta_data(contrast, keep_fraction, first_step))
    piece = functools.partial(select_steps, beta=beta, keep_fraction=None, first_step=first_step, epsilon=epsilon)
    return map_data("kl_steps", contrast, piece, KL_INPUT, STEP_SCHEMA, STEP_ORDER,
                    extra={"beta": beta, "first_step": first_step})


def rejection_sampling_data(samples: StageData, sampled_prompt: bool = False) -> DataSelection:
    """rejection_sampling_sft over a sampled stage, as a map."""
    piece = functools.partial(rejection_sampling_sft, sampled_prompt=sampled_prompt)
    return map_data("rs_sft", samples, piece, RS_INPUT, SFT_SCHEMA, ("problem_id", "source_model", "sample_index"))
