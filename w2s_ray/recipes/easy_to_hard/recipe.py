"""Easy-to-hard generalisation with a process reward model (Sun et al. 2024; METHODS.md 4), top to bottom.

  policy      the strong model, SFT on the gold solutions of easy levels only -> greedy eval
  SGR bounds  the strong base unsupervised, and SFT on gold of the hard levels (the "hard-trained"
              model, `hard_sft`): SGR = (easy - base) / (hard - base) on the hard levels (Hase et al.
              2024); with sgr_bound "all_levels" the SFT sees every level (`all_levels_sft`, not SGR's)
  PRM         the policy samples easy training problems; their steps are labelled from gold (or by
              the step checker) -> the PRM trains on easy levels only
  rerank      the policy samples N solutions of every test problem; the PRM scores each step;
              majority vote vs best-of-N (by the configured aggregate) vs PRM-weighted vote,
              accuracy by level, and SGR for each
  PRM AUROC   the PRM's step AUROC on the test samples of easy and of hard levels, their steps labelled
              as its training data is; where configured, also against OmegaPRM Monte Carlo labels of
              hard solutions' steps (rollouts by the policy, recipes/easy_to_hard/monte_carlo.py)
  RL          (with an `rl` section) GRPO from the policy on hard training problems without their gold,
              rewarded by the PRM, an easy-trained outcome RM or (upper bound) gold; rl.py
The report's `rerank` and `sgr` come from the rerank report stage (tag role "report").
"""
from __future__ import annotations

from w2s_ray.recipes.easy_to_hard.config import SGR_BOUND_LABELS, EasyToHardConfig, prm_gpus, sgr_bound_problems
from w2s_ray.recipes.easy_to_hard.data import (mc_solutions_data, rerank_data, sample_scores, step_auroc_data,
                                               step_labels_data)
from w2s_ray.recipes.easy_to_hard.monte_carlo import monte_carlo_labels
from w2s_ray.recipes.easy_to_hard.report import rerank_report_from_picks, step_auroc
from w2s_ray.recipes.easy_to_hard.rl import run_rl
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.model_builds import build_models
from w2s_ray.run.stage_io import write_stage
from w2s_ray.run.stage_tags import Tag
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.select import gold_sft
from w2s_ray.serve.promotion import promote_latest
from w2s_ray.stages.select_data import StageData, select_data
from w2s_ray.stages.steps import checkpoint_path, generate_and_score, select, stage_rows, train


def run(ctx: RunContext) -> None:
    cfg, e2h = ctx.config, ctx.config.easy_to_hard or EasyToHardConfig()
    build_models(ctx)
    train_split = ctx.splits["weak_train"]  # the split with gold
    easy = [p for p in train_split if p.level in e2h.easy_levels]
    test = ctx.rows("test")

    # The policy: SFT on easy gold only.
    policy_data = select(ctx, "policy/select", lambda _: gold_sft(easy[:e2h.n_policy_problems]))
    policy = train(ctx, "policy/train", policy_data, cfg.strong.model, tag=Tag("train", "easy_sft"))
    evals = {"easy_sft": generate_and_score(ctx, "policy/eval", ctx.eval_teacher(cfg.strong, "easy-sft"), policy,
                                            test, tag=Tag("student_eval", "easy_sft"))}
    promote_latest(ctx.run_dir)

    if e2h.sgr_bounds:  # SGR's other two points, on the same test problems
        evals["strong_base"] = generate_and_score(ctx, "baselines/strong_base/eval",
                                                  ctx.eval_teacher(cfg.strong, "strong-base"), cfg.strong.model, test,
                                                  tag=Tag("baseline", "strong_base"))
        label = SGR_BOUND_LABELS[e2h.sgr_bound]
        gold = select(ctx, f"baselines/{label}/select", lambda _: gold_sft(sgr_bound_problems(train_split, e2h)))
        bound = train(ctx, f"baselines/{label}/train", gold, cfg.strong.model, tag=Tag("train", label))
        evals[label] = generate_and_score(ctx, f"baselines/{label}/eval",
                                          ctx.eval_teacher(cfg.strong, label.replace("_", "-")), bound, test,
                                          tag=Tag("baseline", label))

    # The PRM: the policy's own solutions of easy problems, steps labelled, easy levels only.
    prm_problems = [p.to_row() for p in easy[e2h.n_policy_problems:e2h.n_policy_problems + e2h.n_prm_problems]]
    sampler = cfg.strong.model_copy(update={
        "name": "policy-prm-samples", "shots": 0, "n": e2h.prm_samples, "temperature": e2h.prm_temperature,
        "seed": e2h.seed, "scorers": [ScorerSpec(name="answer_check"),
                                      ScorerSpec(name="step_check", config={"step_sep": e2h.step_sep})]})
    samples = generate_and_score(ctx, "prm/sample", sampler, policy, prm_problems)
    # Each solution labelled on its own: a map in Ray Data's workers, which write the PRM's rows.
    labels = select_data(ctx, "prm/labels",
                         lambda data: step_labels_data(data["samples"], e2h.label_source, e2h.step_sep,
                                                       e2h.prm_answer_step),
                         upstream={"samples": samples},
                         settings={"source": e2h.label_source, "answer_step": str(e2h.prm_answer_step)})
    prm = train(ctx, "prm/train", labels, policy if e2h.prm_from == "policy" else cfg.strong.model,
                e2h.prm_train_config(cfg.train))

    # Hard (and every other) level: N samples per test problem, each step scored by the PRM.
    prm_spec = ScorerSpec(name="process_reward_model", num_gpus=prm_gpus(ctx.device),
                          config={"model_path": checkpoint_path(prm), "step_sep": e2h.step_sep,
                                  "answer_step": e2h.prm_answer_step})
    sampler = cfg.strong.model_copy(update={
        "name": "policy-samples", "shots": 0, "n": e2h.n, "temperature": e2h.temperature, "seed": e2h.seed,
        # step_check: the test samples' steps labelled as the PRM's training data is (held-out AUROC)
        "scorers": [ScorerSpec(name="answer_check"), ScorerSpec(name="step_check", config={"step_sep": e2h.step_sep}),
                    prm_spec]})
    hard = generate_and_score(ctx, "rerank/sample", sampler, policy, test, upstream={"prm": prm})

    mc = None
    if e2h.mc_rollouts:
        solutions = mc_solutions_data(StageData.of(hard), e2h.hard_levels, e2h.mc_solutions)  # 2 x mc_solutions rows
        mc = monte_carlo_labels(ctx, "prm_auroc/mc", cfg.strong, policy, solutions, e2h.mc_rollouts, e2h.step_sep,
                                seed=e2h.seed, upstream={"samples": hard})

    def report() -> StageResult:
        # The samples stay in Ray Data's workers: a group-by per problem reranks them, and only the
        # picks (one per problem and method) and the report's numbers come to the driver (data.py).
        hard_samples = StageData.of(hard)
        accuracy = {name: result.metrics["accuracy"] for name, result in evals.items()}
        picks, n_samples, n_unscored = rerank_data(hard_samples, e2h.aggregate)
        out = rerank_report_from_picks(picks, n_samples, n_unscored, accuracy, e2h.aggregate, e2h.hard_levels,
                                       e2h.sgr_bound)
        if mc is not None:
            mc_rows = stage_rows(mc)  # the few hundred Monte Carlo-labelled solutions
            out["prm_step_auroc"] = step_auroc(sample_scores(hard_samples, mc_rows), mc_rows)
        # Held-out test samples labelled as the PRM's training data is: a low easy AUROC says the PRM
        # did not learn its labels, a high easy and low hard one that it did not generalise.
        for part, levels in (("easy", e2h.easy_levels), ("hard", e2h.hard_levels)):
            out[f"prm_step_auroc_{part}"] = {**step_auroc_data(hard_samples, levels, e2h.label_source, e2h.step_sep,
                                                               e2h.prm_answer_step), "labels": e2h.label_source}
        return StageResult(outputs={"rows": write_stage(ctx.stage_dir("rerank/report"), out.pop("picks"))},
                           rows_in=n_samples, rows_out=out["n_picks"], metrics={"report": out})

    run_stage(ctx.manifest, "rerank/report", report, tag=Tag("report", "easy_to_hard"),
              upstream={"samples": hard, **evals, **({"mc_labels": mc} if mc is not None else {})})

    if e2h.rl is not None:  # RL on hard problems with the easy-trained reward (rl.py)
        run_rl(ctx, e2h, policy, prm, prm_spec, samples)

