"""The easy-to-hard report section: reranked accuracy by level and SGR (METHODS.md: SGR, Hase et al. 2024).

SGR = (acc_easy_trained - acc_unsupervised) / (acc_hard_trained - acc_unsupervised) on the hard
levels: the unsupervised model is the strong base (greedy), the hard-trained one the strong model
SFT'd on gold of every level (the recipe's `ceiling`), the easy-trained one the easy-SFT policy,
greedy (`sgr`) or with each reranking of its N samples (`rerank.<method>.sgr`). None where the
hard-trained model is no better than the unsupervised one (nothing to recover) or a point is missing.
Levels are string keys ("1".."5") as in JSON.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from w2s_ray.eval.auroc import auroc
from w2s_ray.select.rerank import METHODS, accuracy_by_level, rerank


def _levels(acc: dict, key: str) -> dict[str, float]:
    return {str(level): value for level, value in (acc.get(key) or {}).items() if str(level) not in ("None", "null")}


def hard_accuracy(acc: dict | None, hard_levels: Iterable[int]) -> float | None:
    """Accuracy over the hard levels' problems (levels weighted by their problem counts)."""
    if not acc:
        return None
    by_level, n_by_level = _levels(acc, "acc_by_level"), _levels(acc, "n_by_level")
    hard = [str(level) for level in hard_levels if str(level) in by_level]
    n = sum(n_by_level.get(level, 0) for level in hard)
    return sum(by_level[level] * n_by_level.get(level, 0) for level in hard) / n if n else None


def sgr(easy: float | None, unsupervised: float | None, hard_trained: float | None) -> float | None:
    if None in (easy, unsupervised, hard_trained) or hard_trained <= unsupervised:
        return None
    return (easy - unsupervised) / (hard_trained - unsupervised)


def rerank_report(sample_rows: Sequence[dict], greedy: dict[str, dict], aggregate: str,
                  hard_levels: Sequence[int]) -> dict:
    """`greedy`: accuracy records (eval.accuracy) by name: easy_sft, and where run strong_base, ceiling."""
    base = hard_accuracy(greedy.get("strong_base"), hard_levels)
    ceiling = hard_accuracy(greedy.get("ceiling"), hard_levels)
    picks, section = [], {}
    for method in METHODS:
        chosen = rerank(sample_rows, method, aggregate)
        picks += [{**p, "method": method} for p in chosen]
        acc = accuracy_by_level(chosen)
        n_by_level = {}
        for p in chosen:
            n_by_level[str(p["level"])] = n_by_level.get(str(p["level"]), 0) + 1
        acc["n_by_level"] = n_by_level
        acc["sgr"] = sgr(hard_accuracy(acc, hard_levels), base, ceiling)
        section[method] = acc
    easy = greedy.get("easy_sft")
    return {
        "rerank": section,
        "sgr": sgr(hard_accuracy(easy, hard_levels), base, ceiling),
        "aggregate": aggregate, "hard_levels": list(hard_levels),
        "greedy": {name: {"acc": acc["acc"], "acc_by_level": _levels(acc, "acc_by_level"),
                          "hard_acc": hard_accuracy(acc, hard_levels)} for name, acc in greedy.items()},
        "n_samples": len(sample_rows), "picks": picks, "n_picks": len(picks),
        # samples without a full PRM score (no step, or a step past max_length): ranked last, counted
        "n_unscored_samples": sum(1 for r in sample_rows if _unscored(r.get(aggregate))),
    }


def _unscored(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def step_auroc(sample_rows: Sequence[dict], label_rows: Sequence[dict]) -> dict:
    """The PRM's step AUROC: its `step_scores` of the labelled solutions against their step labels
    (steps past a first error carry no label and are left out)."""
    scores = {(str(r["problem_id"]), str(r["model"]), int(r["sample_index"])): r.get("step_scores")
              for r in sample_rows}
    xs, ys = [], []
    for row in label_rows:
        step_scores = scores.get((str(row["problem_id"]), str(row["source_model"]), int(row["sample_index"])))
        if step_scores is None:
            continue
        for score, label in zip(list(step_scores), list(row["labels"])):
            xs.append(float(score))
            ys.append(int(label))
    return {"auroc": auroc(xs, ys), "n_steps": len(xs), "n_negative": ys.count(0), "n_solutions": len(label_rows)}


def _auroc_cell(value: dict | None) -> str:
    if not value or value.get("auroc") is None:
        return "n/a"
    return f"{value['auroc']:.2f} ({value['n_steps']} steps, {value['n_negative']} wrong)"


def markdown(report: dict) -> list[str]:
    """The PRM's held-out step AUROC, easy levels beside hard ones (rerank/report)."""
    if "prm_step_auroc_easy" not in report:
        return []
    lines = ["", "## Easy-to-hard: the PRM's step AUROC on held-out test samples", "",
             "| steps of | labels | AUROC |", "|---|---|---|"]
    for part in ("easy", "hard"):
        value = report.get(f"prm_step_auroc_{part}") or {}
        lines.append(f"| {part} levels | {value.get('labels', 'gold')} | {_auroc_cell(value)} |")
    if report.get("prm_step_auroc"):
        lines.append(f"| hard levels | monte_carlo | {_auroc_cell(report['prm_step_auroc'])} |")
    lines += ["", "Low on easy levels: the PRM did not learn its labels; high on easy and low on hard: "
              "it did not generalise."]
    return lines
