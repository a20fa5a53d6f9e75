"""Multi-capability weak-to-strong with reward-model selection and two-stage training (Zhou et al.,
ICLR 2025; METHODS.md section 6), top to bottom, on several capabilities (data/capabilities):

  data        each capability's demo splits or real dataset (data.py), mixed; the run's splits are these
  weak        each weak teacher (fine-tuned on the weak half's gold first, where configured) labels
              the strong half of every capability, and is evaluated on the test split
  baselines   strong base; ceiling (gold SFT on the strong half, every capability); full weak FT
              (every weak solution of every capability, mixed)
  independence  one student per capability, on that capability's weak data alone, evaluated on all
  bootstrap   round 1 is full weak FT's student; each round's student samples the strong half
              (confidence, diversity) and round r > 1 trains on round r-1's samples, no weak data
  rm          an outcome RM trained on weak-half samples (a right one or gold against a wrong one)
              scores every weak solution of the strong half; the top fraction (or those over a
              threshold) are kept (judged against the strong half's gold after the fact, rm/judge,
              for the report); two-stage: all weak data for first_epochs, then the kept part for
              second_epochs, continuing that model
  logconf     (optional) the confidence loss and plain CE on the choice capabilities' weak labels,
              scored over the options (logconf_baseline.py)

No gold of the strong half reaches a selection or a training stage of the method: the ceiling is the
only stage that trains on it (data.strong_half_gold), and the report judges the RM's picks with it
after the fact. Every stage goes through the manifest: a resumed run redoes only what did not finish.
"""
from __future__ import annotations

import hashlib
import json

from w2s_ray.data.sources import data_hash
from w2s_ray.recipes.multi_capability import data as mc_data
from w2s_ray.recipes.multi_capability.config import rm_scorer_gpus
from w2s_ray.recipes.multi_capability.judge_data import judge_data
from w2s_ray.recipes.multi_capability.keys import (FULL_WEAK_FT, RM_JUDGE, RM_SELECT, TWO_STAGE, only, round_label,
                                                   sample_key)
from w2s_ray.recipes.multi_capability.logconf_baseline import logconf_baseline
from w2s_ray.recipes.multi_capability.metrics import rm_pairs
from w2s_ray.recipes.multi_capability.selections import RM_SCORE_INPUT, own_outputs_data, reward_cut_data
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.model_builds import build_models
from w2s_ray.run.stage_tags import Tag
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.select import gold_sft
from w2s_ray.stages.score_data import score_upstream
from w2s_ray.stages.select_data import StageData, UpstreamData, select_data, take_all_data
from w2s_ray.stages.steps import Model, checkpoint_path, generate_and_score, select, train


def _sha(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def run(ctx: RunContext) -> None:
    cfg, mc = ctx.config, ctx.config.multi_capability
    ctx.splits = mc_data.splits(mc, cfg.data.seed)  # every reader of the run's splits sees these
    if real := mc_data.source_stats(mc, cfg.data.seed):  # quarantined rows and duplicates of real datasets
        ctx.manifest.note_data({**ctx.manifest.data(), "sources": real})
    problems = {"problems": data_hash(ctx.splits)}  # what the generations read, beside the config
    strong_train, test = ctx.rows("strong_train"), ctx.rows("test")
    build_models(ctx)

    weak_results = {}
    for t in cfg.weak:
        model = weak_teacher(ctx, t)
        weak_results[t.name] = generate_and_score(ctx, f"weak/{t.name}/generate", t, model, strong_train,
                                                  settings=problems)
        generate_and_score(ctx, f"baselines/weak/{t.name}/eval", ctx.eval_teacher(t, t.name), model, test,
                           settings=problems, tag=Tag("baseline", "weak", teacher=t.name))

    def evaluate(key: str, name: str, model: Model, tag: Tag) -> StageResult:
        return generate_and_score(ctx, key, ctx.eval_teacher(cfg.strong, name), model, test, settings=problems,
                                  tag=tag)

    gold = select(ctx, "baselines/ceiling/select", lambda _: gold_sft(mc_data.strong_half_gold(mc, cfg.data.seed)),
                  settings=problems)
    ceiling = train(ctx, "baselines/ceiling/train", gold, cfg.strong.model, tag=Tag("train", "ceiling"))
    evaluate("baselines/ceiling/eval", "ceiling", ceiling, Tag("baseline", "ceiling"))
    all_weak = select_data(ctx, "baselines/full_weak_ft/select", lambda data: take_all_data(data.joined(weak_results)),
                           upstream=weak_results, tag=Tag("select", FULL_WEAK_FT))
    full = train(ctx, "baselines/full_weak_ft/train", all_weak, cfg.strong.model, tag=Tag("train", FULL_WEAK_FT))
    evaluate("baselines/full_weak_ft/eval", "full-weak-ft", full, Tag("baseline", FULL_WEAK_FT))
    evaluate("baselines/strong_base/eval", "strong-base", cfg.strong.model, Tag("baseline", "strong_base"))

    if mc.independence and len(mc.capabilities) > 1:
        for cap in mc.capabilities:
            ids = [p["id"] for p in strong_train if mc_data.capability_of(p) == cap]
            alone = select_data(ctx, f"independence/{cap}/select",
                                lambda data, ids=ids: take_all_data(data.joined(weak_results).problems(ids)),
                                upstream=weak_results, tag=Tag("select", only(cap)))
            trained = train(ctx, f"independence/{cap}/train", alone, cfg.strong.model, tag=Tag("train", only(cap)))
            evaluate(f"independence/{cap}/eval", f"only-{cap}", trained, Tag("student_eval", only(cap)))

    bootstrap(ctx, full, strong_train, problems)
    if mc.rm is not None:
        rm_two_stage(ctx, weak_results, all_weak, full, problems, evaluate)
    if mc.logconf:
        logconf_baseline(ctx, weak_results, problems)


def weak_teacher(ctx: RunContext, teacher) -> Model:
    """The teacher as configured, or first fine-tuned on the weak half's gold (every capability's)."""
    if not teacher.sft_on_weak_half:
        return teacher.model
    gold = select(ctx, f"weak/{teacher.name}/gold_select", lambda _: gold_sft(ctx.splits["weak_train"]),
                  settings={"problems": data_hash(ctx.splits)})
    return train(ctx, f"weak/{teacher.name}/train", gold, teacher.model)


def bootstrap(ctx: RunContext, round_one: StageResult, strong_train: list[dict], problems: dict) -> None:
    """Self-bootstrapping: round 1 is full weak FT's student; round r > 1 trains round r-1's student on
    round r-1's own samples of the strong half. Every round's student samples (its diversity)."""
    cfg, mc = ctx.config, ctx.config.multi_capability
    student, samples = round_one, None
    for r in range(1, mc.bootstrap_rounds + 1):
        if r > 1:
            label = round_label(r)
            own = select_data(ctx, f"bootstrap/round_{r}/select", lambda data: own_outputs_data(data["samples"]),
                              upstream={"samples": samples}, tag=Tag("select", label, round=r))
            student = train(ctx, f"bootstrap/round_{r}/train", own, student, tag=Tag("train", label, round=r))
            generate_and_score(ctx, f"bootstrap/round_{r}/eval", ctx.eval_teacher(cfg.strong, f"bootstrap-{r}"),
                               student, ctx.rows("test"), settings=problems, tag=Tag("student_eval", label, round=r))
        sampler = cfg.strong.model_copy(update={"name": f"bootstrap-{r}-samples", "shots": 0, "role": "strong",
                                                "n": mc.bootstrap_samples, "temperature": mc.bootstrap_temperature})
        samples = generate_and_score(ctx, sample_key(r), sampler, student, strong_train, settings=problems)


def rm_two_stage(ctx: RunContext, weak_results: dict, all_weak: StageResult, full: StageResult, problems: dict,
                 evaluate) -> None:
    """The outcome RM (trained on weak-half samples), its scores of every weak solution, the kept part,
    and two-stage training: all weak data, then the kept part."""
    cfg, mc = ctx.config, ctx.config.multi_capability
    rm_cfg = mc.rm
    by_cap: dict[str, list[dict]] = {}
    for p in ctx.rows("weak_train"):
        by_cap.setdefault(mc_data.capability_of(p), []).append(p)
    asked = [p for rows in by_cap.values() for p in rows[: rm_cfg.questions]]
    gold_solutions = {p["id"]: p["solution"] for p in asked if p.get("solution")}
    samples = {}
    for t in cfg.weak:
        sampler = t.model_copy(update={"name": f"{t.name}-rm-samples", "n": rm_cfg.samples,
                                       "temperature": rm_cfg.temperature})
        samples[t.name] = generate_and_score(ctx, f"rm/{t.name}/sample", sampler, weak_teacher(ctx, t), asked,
                                             settings=problems)
    pairs = select(ctx, "rm/pairs", lambda rows: rm_pairs(rows.joined(samples), gold_solutions, rm_cfg.max_pairs, 0),
                   upstream=samples)
    rm = train(ctx, "rm/train", pairs, cfg.strong.model, rm_cfg.train_config(cfg.train))
    scored = score_with_rm(ctx, weak_results, rm)
    kept = select_data(ctx, RM_SELECT, lambda data: reward_cut_data(data["scored"], "reward", **rm_cfg.cut()),
                       upstream={"scored": scored}, settings={"rule": _sha(rm_cfg.cut())},
                       tag=Tag("select", TWO_STAGE))
    judge_rm(ctx, kept, scored)
    first = full if mc.first_epochs == cfg.train.epochs else train(
        ctx, "two_stage/all_weak/train", all_weak, cfg.strong.model, cfg.train.model_copy(update={"epochs": mc.first_epochs}))
    second = train(ctx, "two_stage/selected/train", kept, first, cfg.train.model_copy(update={"epochs": mc.second_epochs}),
                   tag=Tag("train", TWO_STAGE))
    evaluate("two_stage/eval", "rm-two-stage", second, Tag("student_eval", TWO_STAGE))


def judge_rm(ctx: RunContext, kept: StageResult, scored: StageResult) -> None:
    """The report's `rm_selection`: the kept solutions judged against the strong half's gold after the
    fact, in the workers (judge_data.py); a stage of its own, so no selection stage reads that gold."""
    mc = ctx.config.multi_capability

    def body() -> StageResult:
        gold = {p.id: p.gold for p in mc_data.strong_half_gold(mc, ctx.config.data.seed)}
        return StageResult(metrics={"rm_selection": judge_data(StageData.of(kept), StageData.of(scored), gold)})

    run_stage(ctx.manifest, RM_JUDGE, body, upstream={"kept": kept, "scored": scored})


def score_with_rm(ctx: RunContext, weak_results: dict, rm: StageResult) -> StageResult:
    """Every weak solution of the strong half with the RM's `reward` column, read, scored and written
    by the workers (stages/score_data.py)."""
    spec = ScorerSpec(name="reward_model", num_gpus=rm_scorer_gpus(ctx.device),
                      config={"model_path": checkpoint_path(rm)})

    def body() -> StageResult:
        data = UpstreamData(weak_results).joined(weak_results)
        output = score_upstream(ctx.stage_dir("rm/score"), data, RM_SCORE_INPUT, [spec],
                                ("model", "problem_id", "sample_index"))
        return StageResult(outputs={"rows": output}, rows_in=data.rows, rows_out=output["rows"])

    return run_stage(ctx.manifest, "rm/score", body, upstream={**weak_results, "rm": rm})
