"""Hard-task vs easy-subtask supervision (He et al. 2024; METHODS.md section 3), top to bottom.

  supervision/hard        gold solutions of hard problems (supervision_mix.hard_levels) of the weak half
  supervision/subtask     a middle span of each, posed as a problem of its own (exact in the world)
  supervision/rephrased   each hard problem in other words, same solution (world only)
  per mix (hard only, subtask only, hard + subtask, hard + rephrased hard, at configured outcome errors):
    mix/NAME/errors  plant wrong steps to the exact outcome error of each part (final or early and
                     propagating), measure outcome and step-wise error -> SFT rows
    mix/NAME/train   SFT from the strong base
    mix/NAME/eval    accuracy by level on the test split
The report's `mixes` (recipes/supervision_mix/report.py) puts each mix's measured errors beside its accuracy.

The supervision is gold with planted errors, taken from the weak half (which carries gold in every
recipe); the strong half's gold is never read. Every stage goes through the manifest and resumes.
"""
from __future__ import annotations

import hashlib
import json

from w2s_ray.recipes.supervision_mix.error_control import build_mix
from w2s_ray.recipes.supervision_mix.subtasks import hard_set, rephrased_set, subtask_set
from w2s_ray.run.context import RunContext
from w2s_ray.run.stage_tags import Tag
from w2s_ray.stages.steps import generate_and_score, select, train


def _sha(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def run(ctx: RunContext) -> None:
    cfg, mc = ctx.config, ctx.config.supervision_mix
    world = cfg.data.source == "world"
    # Text is split into steps as the run's step checker splits it (MATH: by blank line).
    step_sep = next((s.config.get("step_sep", "line") for s in cfg.scorers if s.name == "step_check"), "line")
    student = cfg.strong.model
    ctx.model_path(student)  # a built-in student is built (or found) as its own stage first
    test = ctx.rows("test")
    if mc.evaluate_base:
        generate_and_score(ctx, "baselines/strong_base/eval", ctx.eval_teacher(cfg.strong, "strong-base"),
                           student, test, tag=Tag("baseline", "strong_base"))

    # The sets every mix draws from, each a selection stage with what it could not pose counted.
    data = {"data": ctx.data_stats["data_hash"]}
    hard = select(ctx, "supervision/hard",
                  lambda _: hard_set(ctx.splits["weak_train"], mc.hard_levels, mc.n_hard),
                  settings={**data, "settings": _sha([mc.hard_levels, mc.n_hard])})
    kinds = {part.kind for mix in mc.mixes for part in mix.parts}
    sets = {"hard": hard}
    if "subtask" in kinds:
        sets["subtask"] = select(ctx, "supervision/subtask",
                                 lambda rows: subtask_set(rows["hard"], mc.subtask_steps, mc.seed, world, step_sep),
                                 upstream={"hard": hard}, settings={"settings": _sha([mc.subtask_steps, mc.seed])})
    if "rephrased" in kinds:
        sets["rephrased"] = select(ctx, "supervision/rephrased", lambda rows: rephrased_set(rows["hard"], mc.seed),
                                   upstream={"hard": hard}, settings={"settings": _sha(mc.seed)})

    for mix in mc.mixes:
        selection = select(ctx, f"mix/{mix.name}/errors",
                           lambda rows, mix=mix: build_mix(rows, mix.parts, mc.seed, world, step_sep),
                           upstream={part.kind: sets[part.kind] for part in mix.parts},
                           settings={"mix": _sha([mix.model_dump(mode="json"), mc.seed])},
                           tag=Tag("select", mix.name))
        trained = train(ctx, f"mix/{mix.name}/train", selection, student, tag=Tag("train", mix.name))
        generate_and_score(ctx, f"mix/{mix.name}/eval", ctx.eval_teacher(cfg.strong, f"mix-{mix.name}"),
                           trained, test, tag=Tag("student_eval", mix.name))
