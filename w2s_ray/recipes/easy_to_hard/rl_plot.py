"""report.png's RL panels (issue 27): per reward chain, over its iterations, the mean reward beside the
share of rollouts right by gold (checked after the fact) and the greedy test accuracy on the hard
levels, so that reward over-optimisation (reward up, accuracy down) shows as lines going apart. The
easy-SFT policy every chain starts from is a dotted line. A reward outside [0, 1] (the outcome RM's
score, a user's scorer) gets its own axis on the right."""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

REWARD_LINE = "mean reward"
GOLD_LINE = "rollouts right (gold, after the fact)"
TEST_LINE = "test accuracy (hard levels)"
START_LINE = "easy-SFT policy (start), hard levels"


def _values(iterations: list[dict], field: str) -> list[float]:
    return [math.nan if it.get(field) is None else float(it[field]) for it in iterations]


def _start_accuracy(report: dict) -> float | None:
    from w2s_ray.recipes.easy_to_hard.report import hard_accuracy

    block = report.get("rl") or {}
    levels = [str(level) for level in block.get("hard_levels") or []]
    easy_sft = (report.get("students") or {}).get("easy_sft")
    weighted = hard_accuracy(easy_sft, levels)
    if weighted is not None or not easy_sft:
        return weighted
    # report.json's students carry no per-level counts: the hard levels' mean, each level one weight
    by_level = {str(k): v for k, v in (easy_sft.get("acc_by_level") or {}).items()}
    values = [by_level[level] for level in levels if by_level.get(level) is not None]
    return sum(values) / len(values) if values else None


def rl_panels(report: dict) -> list[Callable]:
    """One drawing function (ax -> None) per reward chain of report["rl"]; none without RL iterations."""
    iterations = (report.get("rl") or {}).get("iterations") or []
    chains: dict[str, list[dict]] = {}
    for it in iterations:
        chains.setdefault(it["reward"], []).append(it)
    start = _start_accuracy(report)
    return [partial(draw_chain, reward, sorted(its, key=lambda it: it["iteration"]), start)
            for reward, its in chains.items()]


def draw_chain(reward: str, iterations: list[dict], start: float | None, ax) -> None:
    xs = [it["iteration"] for it in iterations]
    supervision = iterations[0].get("supervision")
    ax.set_title(f"RL, {reward} reward" + (f" ({supervision})" if supervision else "") + ": reward vs accuracy")
    ax.plot(xs, _values(iterations, "train_gold_accuracy"), "s--", color="tab:green", label=GOLD_LINE)
    ax.plot(xs, _values(iterations, "test_hard_acc"), "^-", color="tab:blue", label=TEST_LINE)
    if start is not None:
        ax.axhline(start, color="gray", linestyle=":", label=START_LINE)
    rewards = _values(iterations, "mean_reward")
    finite = [r for r in rewards if not math.isnan(r)]
    reward_ax = ax if all(0.0 <= r <= 1.0 for r in finite) else ax.twinx()
    reward_ax.plot(xs, rewards, "o-", color="tab:red", label=REWARD_LINE)
    if reward_ax is not ax:
        reward_ax.set_ylabel(REWARD_LINE, color="tab:red")
    ax.set_ylim(0, 1)
    ax.set_xticks(xs)
    ax.set_xlabel("RL iteration")
    ax.set_ylabel("share" if reward_ax is not ax else "share / reward")
    handles = [h for a in dict.fromkeys([ax, reward_ax]) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, fontsize="small", loc="best")
