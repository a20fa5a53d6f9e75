"""LightReasoner's own stages: the questions it samples, and the contrast stage (the expert's and
the amateur's teacher-forced forward passes over the expert's solutions, on the scoring actor pool).

The questions are the first N of strong_train, with gold: LightReasoner never reads it (its
selection reads only the contrast columns), the rejection-sampling baseline needs it to know which
of the expert's samples are right. The amateur never trained on strong_train (it is a weak teacher,
trained on the weak half), so the contrast is not the amateur remembering these questions.
"""
from __future__ import annotations

import sys
import time

from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.recipes.light_reasoner.config import LightReasonerConfig
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.score.stage import ScorerSpec, score_dataset
from w2s_ray.stages.steps import stage_rows

CONTRAST_INPUT_COLUMNS = ("problem_id", "model", "sample_index", "prompt", "text")


def _stop_token(row: dict) -> int:
    """The token the expert's generation ended on (generate/finish.py), -1 for none; samples from
    before the engines recorded it have none, and their contrast is over the text alone."""
    value = row.get("stop_token_id")
    return -1 if value is None or value != value else int(value)  # value != value: NaN


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
        import ray

        rows = [{**{c: r[c] for c in CONTRAST_INPUT_COLUMNS}, "stop_token_id": _stop_token(r)}
                for r in stage_rows(samples)]
        print(f"[w2s] {key}: {names[0]} vs {names[1]} on {len(rows)} solutions", file=sys.stderr, flush=True)
        gpu = ctx.device == "gpu"
        spec = ScorerSpec(name="contrast", batch_size=lr.contrast_batch_size, num_gpus=1.0 if gpu else 0.0,
                          config={"expert": ctx.model_path(expert), "amateur": ctx.model_path(amateur),
                                  "expert_name": names[0], "amateur_name": names[1], "alpha": lr.alpha,
                                  "max_mask": lr.max_mask, "epsilon": lr.epsilon, "micro_batch": lr.contrast_batch_size,
                                  "device": ctx.device, "eos_step": lr.eos_step})
        ctx.engines.release()  # the two models' actors need the room
        start = time.perf_counter()
        scored = score_dataset(ray.data.from_items(rows), [spec]).take_all()
        seconds = time.perf_counter() - start
        scored.sort(key=lambda r: (r["problem_id"], r["sample_index"]))
        steps = sum(len(r["contrast_kl"]) for r in scored)
        forced = sum(len(r["contrast_ids"]) for r in scored)
        metrics = {"seconds": seconds, "solutions": len(scored), "steps": steps, "forced_tokens": forced,
                   "mask_cut_steps": sum(int(r["contrast_mask_cut"]) for r in scored),
                   "eos_steps": sum(int(r["contrast_eos_step"]) for r in scored),  # solutions ended by EOS
                   "forward_tokens": 2 * forced}  # one pass of each model
        return StageResult(outputs={"rows": write_stage(ctx.stage_dir(key), scored)}, rows_in=len(rows),
                           rows_out=len(scored), metrics=metrics)

    # The EOS step changes the contrast's rows: a contrast made without it is not reused for a run
    # that asks for it. Off, the inputs leave it out: recorded contrasts that lack the key computed it off.
    eos = {"eos_step": "True"} if lr.eos_step else {}
    return run_stage(ctx.manifest, key, body, upstream={"samples": samples},
                     inputs={"expert": expert, "amateur": amateur, **eos})
