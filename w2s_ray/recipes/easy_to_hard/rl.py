"""Reinforcement learning on hard problems with the easy-trained reward (Sun et al. 2024, METHODS.md 4
step 4: the other half of easy-to-hard), GRPO (DeepSeekMath), one chain per reward source:

  rl/orm/select, rl/orm/train      (reward orm) the outcome RM: pairs of a right and a wrong sample
                                   of the PRM's easy problems, trained as the PRM is (same start)
  rl/<reward>/iter<k>/sample       the current policy samples group_size solutions of iteration k's
                                   hard training problems, their gold removed (but for reward gold);
                                   the reward's scorer scores them
  rl/<reward>/iter<k>/gold_audit   after the fact: right by the hard problems' gold? (read by the
                                   report only; no training stage has it upstream)
  rl/<reward>/iter<k>/advantages   group-relative advantages (select/advantages.py) -> GRPO rows
  rl/<reward>/iter<k>/train        one GRPO stage (objective grpo) from the current policy
  rl/<reward>/iter<k>/eval         greedy on the test split (every iteration with eval_each_iteration)
  rl/<reward>/iter<k>/summary      the iteration's figures (tag report, label rl_<reward>, round k)

The first iteration starts at the easy-SFT policy; each next one samples from the policy the last
trained. Between iterations the live vLLM engines, where the train stage left them up
(rl.keep_engines), get the new weights in place (EnginePool.load_weights); otherwise the next
generate stage starts a new engine on the saved checkpoint. The summary says which happened. The last
iteration's policy is the chain's student (tag student_eval, label rl_<reward>) and is promoted.
"""
from __future__ import annotations

import time

from w2s_ray.generate.stage import choose_engine
from w2s_ray.recipes.easy_to_hard.config import EasyToHardConfig
from w2s_ray.recipes.easy_to_hard.rl_config import RlConfig
from w2s_ray.recipes.easy_to_hard.rl_rewards import grpo_rows, orm_pairs, without_gold
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.run.stage_tags import Tag
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.serve.promotion import promote_latest
from w2s_ray.stages.steps import (Model, checkpoint_path, generate_and_score, model_name, select, stage_rows,
                                  train)


def iteration_problems(pool: list[dict], k: int, n: int) -> list[dict]:
    """Iteration k's (1-based) hard problems: the k-th window of n, wrapping around the pool."""
    if not pool:
        raise ValueError("easy_to_hard.rl: the training split (weak_train) has no problem of the hard levels")
    start = (k - 1) * n
    return [pool[(start + i) % len(pool)] for i in range(min(n, len(pool)))]


def reward_scorer(reward: str, prm_spec: ScorerSpec, orm: StageResult | None, rl: RlConfig | None = None
                  ) -> ScorerSpec:
    if reward == "scorer":
        return rl.reward_scorer_spec()
    if reward == "prm":
        return prm_spec
    if reward == "orm":
        return ScorerSpec(name="reward_model", num_gpus=prm_spec.num_gpus, config={"model_path": checkpoint_path(orm)})
    return ScorerSpec(name="answer_check")


def run_rl(ctx: RunContext, e2h: EasyToHardConfig, policy: StageResult, prm: StageResult, prm_spec: ScorerSpec,
           prm_samples: StageResult) -> None:
    """Every chain of e2h.rl, then the newest evaluated student (the last chain's) is promoted."""
    rl, cfg = e2h.rl, ctx.config
    pool = [p.to_row() for p in ctx.splits["weak_train"] if p.level in e2h.hard_levels]
    orm = None
    if "orm" in rl.rewards:
        pairs = select(ctx, "rl/orm/select", lambda rows: orm_pairs(rows["samples"], "rl/orm/select"), upstream={"samples": prm_samples})
        orm = train(ctx, "rl/orm/train", pairs, policy if e2h.prm_from == "policy" else cfg.strong.model,
                    rl.orm_train_config(cfg.train))
    for reward in rl.rewards:
        rm = {"prm": prm, "orm": orm}.get(reward)
        _chain(ctx, e2h, rl, reward, policy, pool, reward_scorer(reward, prm_spec, orm, rl), rm)
    promote_latest(ctx.run_dir)


def _chain(ctx: RunContext, e2h: EasyToHardConfig, rl: RlConfig, reward: str, policy: StageResult,
           pool: list[dict], scorer: ScorerSpec, rm: StageResult | None) -> None:
    cfg, label = ctx.config, f"rl_{reward}"
    test = ctx.rows("test")
    process = reward == "prm" and rl.prm_supervision == "process"
    current: StageResult = policy
    for k in range(1, rl.iterations + 1):
        prefix, last = f"rl/{reward}/iter{k}", k == rl.iterations
        problems = iteration_problems(pool, k, rl.problems_per_iteration)
        if reward != "gold":  # the method's point: no hard supervision reaches the reward
            problems = [without_gold(p) for p in problems]
        sampler = cfg.strong.model_copy(update={
            "name": f"rl-{reward}-rollouts", "shots": 0, "n": rl.group_size, "temperature": rl.temperature,
            # one engine seed for every iteration (it is an engine argument: another would start a new
            # engine); each request has its own seed from it, the problem and the sample index
            "seed": e2h.seed, "scorers": [scorer]})
        rollouts = generate_and_score(ctx, f"{prefix}/sample", sampler, current, problems,
                                      upstream={"reward_model": rm} if rm is not None else None,
                                      settings={"iteration": str(k)})
        audit = gold_audit(ctx, f"{prefix}/gold_audit", rollouts)
        tokenizer_dir = ctx.model_path(model_name(current))
        advantages = select(
            ctx, f"{prefix}/advantages",
            lambda rows: grpo_rows(rows["rollouts"], reward, _tokenizer(tokenizer_dir), process=process,
                                   aggregate=e2h.aggregate, step_sep=e2h.step_sep, with_answer=e2h.prm_answer_step,
                                   column=rl.scorer.column if reward == "scorer" else None),
            upstream={"rollouts": rollouts, "tokenizer": current},
            settings={"reward": reward, "supervision": "process" if process else "outcome",
                      "aggregate": e2h.aggregate, "step_sep": e2h.step_sep, "answer_step": str(e2h.prm_answer_step),
                      **({"column": rl.scorer.column} if reward == "scorer" else {})})
        new = train(ctx, f"{prefix}/train", advantages, current, rl.grpo_train_config(cfg.train),
                    tag=Tag("train", label) if last else None, keep_engines=rl.keep_engines)
        update = refresh_engines(ctx, sampler, current, new)
        evaluation = None
        if rl.eval_each_iteration or last:
            evaluation = generate_and_score(ctx, f"{prefix}/eval", ctx.eval_teacher(cfg.strong, f"rl-{reward}-iter{k}"),
                                            new, test, tag=Tag("student_eval", label) if last else None)
        parts = {"rollouts": rollouts, "gold_audit": audit, "advantages": advantages, "train": new,
                 **({"eval": evaluation} if evaluation is not None else {})}
        run_stage(ctx.manifest, f"{prefix}/summary",
                  lambda: _summary(reward, k, parts, update),
                  tag=Tag("report", label, round=k), upstream=parts)
        current = new


def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def gold_audit(ctx: RunContext, key: str, rollouts: StageResult) -> StageResult:
    """Each rollout right by its problem's gold, checked after the fact with the eval's answer_check
    settings: the share of samples right, beside the reward (reward over-optimisation shows as reward
    up, this down). Only the report reads it."""
    from w2s_ray.score.answer_checker import AnswerChecker

    def body() -> StageResult:
        import numpy as np

        gold = {p.id: p.gold for p in ctx.splits["weak_train"]}
        rows = stage_rows(rollouts)
        spec = next((s for s in cfg_scorers(ctx) if s.name == "answer_check"), ScorerSpec(name="answer_check"))
        batch = {"answer": np.array([r["answer"] for r in rows], dtype=object),
                 "text": np.array([r["text"] for r in rows], dtype=object),
                 "gold": np.array([gold.get(r["problem_id"]) for r in rows], dtype=object)}
        correct = AnswerChecker(**spec.config)(batch)["correct"].tolist() if rows else []
        out = [{"problem_id": r["problem_id"], "sample_index": r["sample_index"], "level": r["level"],
                "correct": bool(c)} for r, c in zip(rows, correct)]
        accuracy = sum(correct) / len(correct) if correct else None
        return StageResult(outputs={"rows": write_stage(ctx.stage_dir(key), out)}, rows_in=len(rows),
                           rows_out=len(out), metrics={"gold_accuracy": accuracy})

    data = {"data": ctx.data_stats["data_hash"]} if ctx.config.data.source == "files" else {}
    return run_stage(ctx.manifest, key, body, inputs=data, upstream={"rollouts": rollouts})


def cfg_scorers(ctx: RunContext) -> list[ScorerSpec]:
    from w2s_ray.score.stage import as_specs

    return as_specs(ctx.config.eval.scorers or ctx.config.scorers)


def weight_update_route(engine: str, live_model: str | None, old_path: str, new_path: str) -> dict:
    """How the next stage gets `new_path`'s weights: {"mode": "in_place" | "new_engine", "why"}.
    `live_model`: the checkpoint the live vLLM engines hold (None: none is up)."""
    if engine != "vllm":
        return {"mode": "new_engine", "why": "the HF engine loads its checkpoint in every stage"}
    if live_model is None:
        return {"mode": "new_engine", "why": "no live engine: a stage released it (a train stage without "
                "rl.keep_engines, or a scorer that did not fit beside it)"}
    if live_model == new_path:
        return {"mode": "in_place", "why": "the engines hold these weights already"}
    if live_model != old_path:
        return {"mode": "new_engine", "why": f"the live engines hold another model ({live_model})"}
    return {"mode": "in_place", "why": "the engines held the policy this iteration started from"}


def refresh_engines(ctx: RunContext, sampler, old: Model, new: Model) -> dict:
    """The live engines, if they hold `old`'s weights, get `new`'s in place; else the next generate
    stage starts a new engine on `new`'s checkpoint. Returns what happened, for the summary."""
    pool = ctx.engines.pool
    new_path = ctx.model_path(model_name(new))
    route = weight_update_route(choose_engine(sampler), pool.spec.model_path if pool is not None else None,
                                ctx.model_path(model_name(old)), new_path)
    if route["mode"] != "in_place" or pool.spec.model_path == new_path:
        return route
    start = time.perf_counter()
    try:
        pool.load_weights(new_path)
    except ValueError as err:  # another shape or tokenizer (weight_update.check_same_model_shape)
        ctx.engines.release()
        return {"mode": "new_engine", "why": str(err)}
    return {**route, "seconds": time.perf_counter() - start}


def _summary(reward: str, k: int, parts: dict[str, StageResult], update: dict
             ) -> StageResult:
    """The iteration's figures from its stages' records: the report's rl.iterations[] entry."""
    advantages, train_metrics = parts["advantages"].metrics, parts["train"].metrics
    generate = parts["rollouts"].metrics
    figures = {
        "reward": reward, "iteration": k, "supervision": advantages.get("supervision"),
        "mean_reward": advantages.get("mean_reward"), "mean_length": advantages.get("mean_length"),
        "groups": advantages.get("groups"), "groups_without_signal": advantages.get("groups_without_signal"),
        "train_gold_accuracy": parts["gold_audit"].metrics.get("gold_accuracy"),
        "kl": train_metrics.get("final_kl"), "weight_update": update,
        "seconds": {"generate": generate["generate"]["seconds"], "score": generate["score"]["seconds"],
                    "advantages": parts["advantages"].seconds, "train": parts["train"].seconds,
                    "weight_update": update.get("seconds")},
    }
    if "eval" in parts:
        figures["test"] = parts["eval"].metrics.get("accuracy")
    return StageResult(rows_in=1, rows_out=1, metrics={"rl_iteration": figures})
