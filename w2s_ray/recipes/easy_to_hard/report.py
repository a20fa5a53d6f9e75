"""The easy-to-hard report section: reranked accuracy by level, SGR and the findings (METHODS.md: SGR,
Hase et al. 2024; Sun et al. 2024).

SGR = (acc_easy_trained - acc_unsupervised) / (acc_hard_trained - acc_unsupervised) on the hard
levels: the unsupervised model is the strong base (greedy), the hard-trained one the strong model
SFT'd on gold of the hard levels (the recipe's `hard_sft`), the easy-trained one the easy-SFT policy,
greedy: `sgr`. The same ratio for each reranking of the policy's N samples is `rerank.<method>.reranked_sgr`:
a reranked policy is not the easy-trained model SGR is defined on, so it is never called `sgr`. With
sgr_bound "all_levels" the bound is an all-levels SFT (`all_levels_sft`), which is not SGR's
hard-trained model, and the ratios are `sgr_vs_all_levels_sft` / `reranked_sgr_vs_all_levels_sft`.
None where the bound is no better than the unsupervised model (nothing to recover) or a point is missing.
Levels are string keys ("1".."5") as in JSON.

`build` adds the findings (eval/findings.py), each a paired bootstrap over the hard test problems:
the PRM-weighted vote above majority vote, best-of-N not below majority vote, and SGR > 0; with an RL
section, the `rl` block and the rl_* findings too (rl_report.py).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from w2s_ray.eval.auroc import auroc
from w2s_ray.recipes.easy_to_hard.config import SGR_BOUND_LABELS, EasyToHardConfig
from w2s_ray.recipes.easy_to_hard.findings import findings
from w2s_ray.recipes.easy_to_hard.findings import sgr_value as sgr
from w2s_ray.recipes.easy_to_hard.rl_report import rl_block, rl_curves, rl_findings, rl_markdown, rl_rows
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


def sgr_key(sgr_bound: str, reranked: bool = False) -> str:
    """The report key of the ratio: `sgr` only against SGR's own (hard-trained) bound."""
    name = "reranked_sgr" if reranked else "sgr"
    return name if sgr_bound == "hard_levels" else f"{name}_vs_{SGR_BOUND_LABELS[sgr_bound]}"


def rerank_report(sample_rows: Sequence[dict], greedy: dict[str, dict], aggregate: str,
                  hard_levels: Sequence[int], sgr_bound: str = "hard_levels") -> dict:
    """`greedy`: accuracy records (eval.accuracy) by name: easy_sft, and where run strong_base and the
    bound (SGR_BOUND_LABELS[sgr_bound])."""
    chosen = {method: rerank(sample_rows, method, aggregate) for method in METHODS}
    n_unscored = sum(1 for r in sample_rows if _unscored(r.get(aggregate)))
    return rerank_report_from_picks(chosen, len(sample_rows), n_unscored, greedy, aggregate, hard_levels, sgr_bound)


def rerank_report_from_picks(chosen: dict[str, list[dict]], n_samples: int, n_unscored: int, greedy: dict[str, dict],
                             aggregate: str, hard_levels: Sequence[int], sgr_bound: str = "hard_levels") -> dict:
    """rerank_report from each method's picks (rerank's) and the samples' counts: a recipe reranks
    its samples in Ray Data's workers (data.rerank_data), and only the picks, one per problem, come here."""
    base = hard_accuracy(greedy.get("strong_base"), hard_levels)
    bound = hard_accuracy(greedy.get(SGR_BOUND_LABELS[sgr_bound]), hard_levels)
    picks, section = [], {}
    for method in METHODS:
        method_picks = chosen[method]
        picks += [{**p, "method": method} for p in method_picks]
        acc = accuracy_by_level(method_picks)
        n_by_level = {}
        for p in method_picks:
            n_by_level[str(p["level"])] = n_by_level.get(str(p["level"]), 0) + 1
        acc["n_by_level"] = n_by_level
        acc[sgr_key(sgr_bound, reranked=True)] = sgr(hard_accuracy(acc, hard_levels), base, bound)
        section[method] = acc
    easy = greedy.get("easy_sft")
    return {
        "rerank": section,
        sgr_key(sgr_bound): sgr(hard_accuracy(easy, hard_levels), base, bound),
        "sgr_bound": {"trained_on": sgr_bound, "label": SGR_BOUND_LABELS[sgr_bound]},
        "aggregate": aggregate, "hard_levels": list(hard_levels),
        "greedy": {name: {"acc": acc["acc"], "acc_by_level": _levels(acc, "acc_by_level"),
                          "hard_acc": hard_accuracy(acc, hard_levels)} for name, acc in greedy.items()},
        "n_samples": n_samples, "picks": picks, "n_picks": len(picks),
        # samples without a full PRM score (no step, or a step past max_length): ranked last, counted
        "n_unscored_samples": n_unscored,
    }


def build(manifest, common: dict) -> dict:
    e2h = EasyToHardConfig.model_validate((manifest.config or {}).get("easy_to_hard") or {})
    if e2h.rl is None:
        return {"findings": findings(manifest, common)}
    hard_levels = common.get("hard_levels") or e2h.hard_levels
    return {"findings": findings(manifest, common) + rl_findings(manifest, e2h.rl.rewards, hard_levels),
            "rl": rl_block(manifest, hard_levels)}


def rows(report: dict) -> list[tuple[str, dict]]:
    """Rows of report.md's table and `w2s compare`: the easy-SFT policy greedy and each reranking of its
    samples (the SGR bound is a baseline row already, under its label: hard_sft or all_levels_sft)."""
    out = [("easy-SFT policy", (report.get("students") or {}).get("easy_sft"))]
    # the rerank section's levels are JSON's string keys; the table's other rows have int levels
    out += [(f"easy-SFT {method}", _int_levels(acc))
            for method, acc in (report.get("rerank") or {}).items()]
    return [(name, acc) for name, acc in out if acc] + rl_rows(report)


def curves(report: dict) -> list[tuple[str, dict]]:
    return rl_curves(report)


def panels(report: dict) -> list:
    from w2s_ray.recipes.easy_to_hard.rl_plot import rl_panels

    return rl_panels(report)


def _int_levels(acc: dict) -> dict:
    return {**acc, "acc_by_level": {int(k): v for k, v in _levels(acc, "acc_by_level").items()}}


def _unscored(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def step_auroc(sample_rows: Sequence[dict], label_rows: Sequence[dict]) -> dict:
    """The PRM's step AUROC: its `step_scores` of the labelled solutions against their step labels
    (steps past a first error carry no label and are left out)."""
    xs, ys = step_pairs(sample_rows, label_rows)
    return {"auroc": auroc(xs, ys), "n_steps": len(xs), "n_negative": ys.count(0), "n_solutions": len(label_rows)}


def step_pairs(sample_rows: Sequence[dict], label_rows: Sequence[dict]) -> tuple[list[float], list[int]]:
    """(score, label) of each labelled step whose solution has step scores, in label_rows' order."""
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
    return xs, ys


def _auroc_cell(value: dict | None) -> str:
    if not value or value.get("auroc") is None:
        return "n/a"
    return f"{value['auroc']:.2f} ({value['n_steps']} steps, {value['n_negative']} wrong)"


def markdown(report: dict) -> list[str]:
    """The PRM's held-out step AUROC, easy levels beside hard ones (rerank/report)."""
    if "prm_step_auroc_easy" not in report:
        return rl_markdown(report.get("rl"))
    lines = ["", "## Easy-to-hard: the PRM's step AUROC on held-out test samples", "",
             "| steps of | labels | AUROC |", "|---|---|---|"]
    for part in ("easy", "hard"):
        value = report.get(f"prm_step_auroc_{part}") or {}
        lines.append(f"| {part} levels | {value.get('labels', 'gold')} | {_auroc_cell(value)} |")
    if report.get("prm_step_auroc"):
        lines.append(f"| hard levels | monte_carlo | {_auroc_cell(report['prm_step_auroc'])} |")
    lines += ["", "Low on easy levels: the PRM did not learn its labels; high on easy and low on hard: "
              "it did not generalise."]
    return lines + rl_markdown(report.get("rl"))
