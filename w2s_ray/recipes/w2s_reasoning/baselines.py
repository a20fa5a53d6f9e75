"""The baselines every weak-to-strong report needs (Burns et al. 2023; METHODS.md "metrics"):

  weak        each weak teacher, greedy, on the test split
  strong_base the strong model before any weak supervision, zero-shot and k-shot
  ceiling     the strong model fine-tuned on the gold solutions of its own training half
  full_weak_ft the strong model fine-tuned on every weak solution (take-all)

The ceiling is the one reader of the strong half's gold (strong_train_with_gold); it feeds only its
own training stage, never a selection of the recipe.
"""
from __future__ import annotations

from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult
from w2s_ray.run.stage_tags import Tag
from w2s_ray.select import Selection, gold_sft
from w2s_ray.stages.select_data import select_data, take_all_data
from w2s_ray.stages.steps import generate_and_score, select, train


def run_baselines(ctx: RunContext, weak_results: dict[str, StageResult]) -> None:
    """Every baseline but the weak teachers' (weak_baseline, which a recipe runs right after each
    teacher's generation). The strong base's evals come last, just before round 1's generation by the
    same model: consecutive stages on one model share its engines (generate/engine_pool.py)."""
    cfg, wanted, test = ctx.config, set(ctx.config.loop.baselines), ctx.rows("test")
    if "ceiling" in wanted:  # its gold selection is untagged: the report's selection statistics are of weak data
        gold = select(ctx, "baselines/ceiling/select", lambda _: gold_selection(ctx))
        train_and_eval(ctx, "ceiling", gold)
    if "full_weak_ft" in wanted:
        rows = select_data(ctx, "baselines/full_weak_ft/select",
                           lambda data: take_all_data(data.joined(weak_results)),
                           upstream=weak_results, tag=Tag("select", "full_weak_ft"))
        train_and_eval(ctx, "full_weak_ft", rows)
    if "strong_base" in wanted:
        generate_and_score(ctx, "baselines/strong_base/eval", ctx.eval_teacher(cfg.strong, "strong-base"),
                           cfg.strong.model, test, tag=Tag("baseline", "strong_base"))
        shots = cfg.eval.strong_base_shots
        if shots:
            pool = ctx.rows("weak_train")[: cfg.data.n_demos]
            name = f"strong-base-{shots}-shot"
            generate_and_score(ctx, "baselines/strong_base_few_shot/eval",
                               ctx.eval_teacher(cfg.strong, name, shots), cfg.strong.model, test, pool,
                               tag=Tag("baseline", "strong_base_few_shot"))


def weak_baseline(ctx: RunContext, teacher, model: str) -> None:
    """A weak teacher, greedy on the test split (when the config asks for the weak baseline)."""
    if "weak" in ctx.config.loop.baselines:
        generate_and_score(ctx, f"baselines/weak/{teacher.name}/eval", ctx.eval_teacher(teacher, teacher.name), model,
                           ctx.rows("test"), tag=Tag("baseline", "weak", teacher=teacher.name))


def train_and_eval(ctx: RunContext, name: str, selection) -> None:
    trained = train(ctx, f"baselines/{name}/train", selection, ctx.config.strong.model, tag=Tag("train", name))
    generate_and_score(ctx, f"baselines/{name}/eval", ctx.eval_teacher(ctx.config.strong, name.replace("_", "-")),
                       trained, ctx.rows("test"), tag=Tag("baseline", name))


def gold_selection(ctx: RunContext) -> Selection:
    """The ceiling's training set: gold solutions of the strong half (the only use of that gold)."""
    return gold_sft(strong_train_with_gold(ctx.config.data))
