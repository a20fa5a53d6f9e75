"""LightReasoner's own stages: the questions it samples, and the contrast stage (the expert's and
the amateur's teacher-forced forward passes over the expert's solutions, on the scoring actor pool;
the solutions read, scored and written by the workers, never in the driver: stages/score_data.py).

The questions are the first N of strong_train, with gold: LightReasoner never reads it (its
selection reads only the contrast columns), the rejection-sampling baseline needs it to know which
of the expert's samples are right. The amateur never trained on strong_train (it is a weak teacher,
trained on the weak half), so the contrast is not the amateur remembering these questions.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.recipes.light_reasoner.config import LightReasonerConfig
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.stages.score_data import output_sums, score_upstream
from w2s_ray.stages.select_data import StageData

_S, _I, _F = pa.string(), pa.int64(), pa.float64()
# The expert's solutions as the contrast scorer reads them; stop_token_id as a float, for the NaN of
# samples from before the engines recorded it (_stop_tokens makes it an int).
CONTRAST_INPUT = pa.schema([("problem_id", _S), ("model", _S), ("sample_index", _I), ("prompt", _S), ("text", _S),
                            ("stop_token_id", _F)])
CONTRAST_ORDER = ("problem_id", "sample_index")


def _stop_tokens(table: pa.Table) -> pa.Table:
    """The token each expert's generation ended on (generate/finish.py), -1 for none: samples from
    before the engines recorded it have none, and their contrast is over the text alone."""
    stop = pc.fill_null(pc.if_else(pc.is_nan(table["stop_token_id"]), None, table["stop_token_id"]), -1.0)
    return table.set_column(table.schema.get_field_index("stop_token_id"), "stop_token_id", pc.cast(stop, _I))


def _list_length_sum(column: str) -> Callable[[pa.Table], int]:
    return lambda table: int(pc.sum(pc.list_value_length(table[column])).as_py() or 0)


def _true_sum(column: str) -> Callable[[pa.Table], int]:
    return lambda table: int(pc.sum(pc.cast(table[column], _I)).as_py() or 0)


def sampled_questions(ctx: RunContext, n: int) -> list[dict]:
    """The first n questions of strong_train, with their gold answers (for the RS-SFT baseline)."""
    problems = strong_train_with_gold(ctx.config.data)
    if n > len(problems):
        raise ValueError(f"light_reasoner.n_questions is {n} but strong_train has {len(problems)} questions "
                         f"(data.n_strong_train)")
    return [p.to_row() for p in problems[:n]]


def contrast(ctx: RunContext, key: str, samples: StageResult, expert: str, amateur: str,
             names: tuple[str, str], lr: LightReasonerConfig) -> StageResult:
    """One row per expert solution with the contrast columns of score/contrast.py."""
    def body() -> StageResult:
        data = StageData.of(samples)
        print(f"[w2s] {key}: {names[0]} vs {names[1]} on {data.rows} solutions", file=sys.stderr, flush=True)
        gpu = ctx.device == "gpu"
        spec = ScorerSpec(name="contrast", batch_size=lr.contrast_batch_size, num_gpus=1.0 if gpu else 0.0,
                          config={"expert": ctx.model_path(expert), "amateur": ctx.model_path(amateur),
                                  "expert_name": names[0], "amateur_name": names[1], "alpha": lr.alpha,
                                  "max_mask": lr.max_mask, "epsilon": lr.epsilon, "micro_batch": lr.contrast_batch_size,
                                  "device": ctx.device, "eos_step": lr.eos_step})
        ctx.engines.release()  # the two models' actors need the room
        start = time.perf_counter()
        # Read, scored and written by the workers (stages/score_data.py): the seconds include the write.
        output = score_upstream(ctx.stage_dir(key), data, CONTRAST_INPUT, [spec], CONTRAST_ORDER, _stop_tokens)
        seconds = time.perf_counter() - start
        sums = output_sums(output, {"steps": _list_length_sum("contrast_kl"),
                                    "forced_tokens": _list_length_sum("contrast_ids"),
                                    "mask_cut_steps": _true_sum("contrast_mask_cut"),
                                    "eos_steps": _true_sum("contrast_eos_step")})  # solutions ended by EOS
        metrics = {"seconds": seconds, "solutions": output["rows"], **sums,
                   "forward_tokens": 2 * sums["forced_tokens"]}  # one pass of each model
        return StageResult(outputs={"rows": output}, rows_in=data.rows, rows_out=output["rows"], metrics=metrics)

    # The EOS step changes the contrast's rows: a contrast made without it is not reused for a run
    # that asks for it. Off, the inputs leave it out: recorded contrasts that lack the key computed it off.
    eos = {"eos_step": "True"} if lr.eos_step else {}
    return run_stage(ctx.manifest, key, body, upstream={"samples": samples},
                     inputs={"expert": expert, "amateur": amateur, **eos})
