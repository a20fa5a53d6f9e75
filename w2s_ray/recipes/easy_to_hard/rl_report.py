"""The easy_to_hard report's `rl` block and `rl_*` findings (recipes/easy_to_hard/rl.py), read from the
manifest alone: a partial run shows the iterations it finished.

  rl.iterations[]  per chain (reward source) and iteration, from its summary stage (tag report,
                   label rl_<reward>, round k): mean reward, share of rollouts right by the hard
                   problems' gold (after the fact), mean length, KL to the iteration's start policy
                   (its last micro-batch's, before that step: 0 when the iteration is one optimizer step),
                   groups whose rewards were all equal, greedy test accuracy by level and on the hard
                   levels, how the new policy got into the engines (in place or a new engine), seconds by
                   part. Reward up while accuracy goes down is reward over-optimisation.
  rl.final         each chain's last policy (tag student_eval, label rl_<reward>): test accuracy

Findings, each a paired difference over the hard test problems (eval/findings.py):
  rl_<reward>>easy_sft_hard   the RL policy is more accurate than the easy-SFT policy it started from
  rl_prm>rl_orm_hard          process reward beats outcome reward (Sun et al.'s PRM-RL vs ORM-RL)
  rl_gold>=rl_prm_hard        the gold-reward upper bound is not below PRM-RL ("reversed" is the surprise)
"""
from __future__ import annotations

from w2s_ray.eval.findings import finding, paired_finding, restrict
from w2s_ray.eval.pgr_interval import correct_by_problem
from w2s_ray.run.stage_tags import find, tagged

PAIRS = (("prm", "orm", "rl_prm>rl_orm_hard", "RL with the easy-trained PRM's process reward is more accurate on "
          "the hard levels than RL with the easy-trained outcome RM's reward"),
         ("gold", "prm", "rl_gold>=rl_prm_hard", "RL with the gold reward (the upper bound) is not below RL with "
          "the easy-trained PRM's reward on the hard levels (the failure: reversed)"))


def _str_levels(by_level: dict | None) -> dict[str, float]:
    return {str(k): v for k, v in (by_level or {}).items() if str(k) not in ("None", "null")}


def _hard(acc: dict | None, hard_levels) -> float | None:
    from w2s_ray.recipes.easy_to_hard.report import hard_accuracy

    return hard_accuracy(acc, hard_levels)


def rl_block(manifest, hard_levels) -> dict | None:
    """report.json's `rl`; None for a run without RL stages."""
    iterations = []
    for key, tag in tagged(manifest, "report"):
        figures = manifest.record(key)["metrics"].get("rl_iteration")
        if tag.label.startswith("rl_") and figures:
            it = dict(figures)
            test = it.pop("test", None)
            if test:
                it["test_acc"] = test.get("acc")
                it["test_acc_by_level"] = _str_levels(test.get("acc_by_level"))
                it["test_hard_acc"] = _hard(test, hard_levels)
            iterations.append(it)
    if not iterations:
        return None
    rewards = list(dict.fromkeys(it["reward"] for it in iterations))
    iterations.sort(key=lambda it: (rewards.index(it["reward"]), it["iteration"]))
    final = {}
    for reward in rewards:
        key = find(manifest, "student_eval", f"rl_{reward}")
        acc = manifest.record(key)["metrics"].get("accuracy") if key else None
        if acc:
            final[reward] = {"acc": acc["acc"], "acc_by_level": _str_levels(acc["acc_by_level"]),
                             "hard_acc": _hard(acc, hard_levels)}
    return {"rewards": rewards, "hard_levels": list(hard_levels), "iterations": iterations, "final": final}


def rl_findings(manifest, rewards: list[str], hard_levels) -> list[dict]:
    """The rl_* findings of the configured reward sources (none without an rl section)."""
    hard = {int(level) for level in hard_levels}
    extra = {"levels": sorted(hard)}
    easy_key = find(manifest, "student_eval", "easy_sft")
    hard_ids = None
    if easy_key is not None:
        from w2s_ray.run.stage_io import read_output

        rows = read_output(manifest.record(easy_key)["outputs"]["rows"])
        hard_ids = [str(r["problem_id"]) for r in rows if r.get("level") is not None and int(r["level"]) in hard]

    def on_hard(label: str):
        key = find(manifest, "student_eval", label)
        return restrict(correct_by_problem(manifest, key), hard_ids) if key and hard_ids is not None else None

    def compare(id_: str, claim: str, better: str, worse: str, **more) -> dict:
        b, w = on_hard(better), on_hard(worse)
        if b is None or w is None:
            missing = ", ".join(n for n, v in ((better, b), (worse, w)) if v is None)
            return finding(id_, claim, None, f"not evaluated: {missing}", **extra, **more)
        if not b or not w:
            return finding(id_, claim, None, "the test split has no hard-level problem", **extra, **more)
        return paired_finding(id_, claim, b, w, **extra, **more)

    out = [compare(f"rl_{reward}>easy_sft_hard", f"RL with the {reward} reward raises hard-level accuracy above the "
                   "easy-SFT policy it started from", f"rl_{reward}", "easy_sft", reward=reward)
           for reward in rewards]
    out += [compare(id_, claim, f"rl_{a}", f"rl_{b}") for a, b, id_, claim in PAIRS if a in rewards and b in rewards]
    return out


def rl_markdown(block: dict | None) -> list[str]:
    if not block:
        return []
    lines = ["", "## Easy-to-hard RL: reward and accuracy per iteration", "",
             "| reward | iter | mean reward | rollouts right (gold, after the fact) | mean length | KL | "
             "groups without signal | test acc | hard-level acc | policy into the engines |", "|---" * 10 + "|"]
    for it in block["iterations"]:
        lines.append(f"| {it['reward']} ({it.get('supervision')}) | {it['iteration']} | {_num(it.get('mean_reward'))} "
                     f"| {_pct(it.get('train_gold_accuracy'))} | {_num(it.get('mean_length'), 1)} | "
                     f"{_num(it.get('kl'), 4)} | {it.get('groups_without_signal')}/{it.get('groups')} | "
                     f"{_pct(it.get('test_acc'))} | {_pct(it.get('test_hard_acc'))} | "
                     f"{(it.get('weight_update') or {}).get('mode', '-')} |")
    lines += ["", "Reward up while the rollouts right by gold or the test accuracy go down: the policy is "
              "optimising the reward model, not the task. The gold reward is an upper bound only."]
    return lines


def rl_rows(report: dict) -> list[tuple[str, dict]]:
    students = report.get("students") or {}
    return [(f"RL ({reward} reward)", students[f"rl_{reward}"])
            for reward in (report.get("rl") or {}).get("rewards", []) if students.get(f"rl_{reward}")]


def rl_curves(report: dict) -> list[tuple[str, dict]]:
    block = report.get("rl") or {}
    return [(f"RL {reward} (last iteration)", {int(k): v for k, v in final["acc_by_level"].items()})
            for reward, final in (block.get("final") or {}).items()]


def _num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"
