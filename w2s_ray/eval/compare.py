"""`w2s compare RUN_DIR...`: one table over runs, one row per model of each run.

Rows: each weak teacher; full weak FT; each Stage-I round; a recipe's own rows (Stage II; easy_to_hard's
policy and rerankings); the gold ceiling; each baseline a recipe tags beyond the shared ones, under its
label (easy_to_hard's SGR bound `hard_sft` or `all_levels_sft`, light_reasoner's `rs_sft`); each
supervision mix (recipe supervision_mix), named with its training set's outcome and step-wise error.
Columns: accuracy overall and by level, PGR, and selection statistics: the share the selection kept
and the share of kept answers that are right against gold (gold used for reporting only). A run
with capabilities (multi_capability) adds a per-capability table (eval/compare_capabilities.py).
"""
from __future__ import annotations

import json
from pathlib import Path

from w2s_ray.eval.compare_capabilities import capability_rows, render_capabilities
from w2s_ray.eval.findings import diff_cell
from w2s_ray.eval.report import BASELINES, build_report
from w2s_ray.recipes.base import recipe_report

LEVELS = (1, 2, 3, 4, 5)


def _row(run: str, name: str, acc: dict | None, selection: dict | None = None) -> dict | None:
    if not acc:
        return None
    by_level = {int(k): v for k, v in acc["acc_by_level"].items()}
    return {"run": run, "model": name, "acc": acc["acc"], "acc_by_level": by_level, "pgr": acc.get("pgr"),
            "share_kept": (selection or {}).get("share_kept"), "kept_correct": (selection or {}).get("kept_correct")}


def compare_rows(run_dir: str | Path) -> list[dict]:
    report = build_report(run_dir)
    run, base = report["run"] or Path(run_dir).name, report["baselines"]
    rows = [_row(run, f"weak: {name}", acc, (acc or {}).get("selection_round_1"))
            for name, acc in report["teachers"].items()]
    rows.append(_row(run, "full weak FT", base.get("full_weak_ft"), (base.get("full_weak_ft") or {}).get("selection")))
    rows += [_row(run, f"stage I round {r['round']}", r, r.get("selection")) for r in report["rounds"]]
    rows += [_row(run, name, row, row.get("selection")) for name, row in recipe_report(report["recipe"]).rows(report)]
    rows.append(_row(run, "ceiling (gold SFT)", base.get("ceiling")))
    # A recipe's own baselines (report.md shows every baseline; this table only named the shared ones,
    # so easy_to_hard's SGR bound was missing from it): under the label the recipe tagged them with.
    rows += [_row(run, name, acc, (acc or {}).get("selection")) for name, acc in base.items()
             if name not in (*BASELINES, "weak")]
    rows += [_row(run, f"mix {m['name']} (outcome err {100 * m['outcome_error']:.0f}%, "
                  f"step err {100 * m['step_error']:.0f}%)", m) for m in report.get("mixes", []) if m["acc"] is not None]
    return [r for r in rows if r]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}"


def render(rows: list[dict]) -> str:
    head = ["run", "model", "acc"] + [f"L{lvl}" for lvl in LEVELS] + ["PGR", "kept %", "kept right %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["run"], r["model"], f"{100 * r['acc']:.1f}"]
        cells += [_pct(r["acc_by_level"].get(lvl)) for lvl in LEVELS]
        cells += ["-" if r["pgr"] is None else f"{r['pgr']:.2f}", _pct(r["share_kept"]), _pct(r["kept_correct"])]
        lines.append("| " + " | ".join(cells) + " |")
    note = ("\nPGR = (acc - weak) / (ceiling - weak), against the run's first weak teacher. kept %: share of "
            "problems (solutions, for full weak FT) the selection kept; for a weak teacher, in round 1. "
            "kept right %: kept answers equal to gold (gold read for this report only).\n")
    return "\n".join(lines) + "\n" + note


def compare_findings(run_dir: str | Path) -> list[dict]:
    """The run's findings (report.json's `findings`), each with its run directory's name (seed runs
    of one config share the config's name)."""
    report = build_report(run_dir)
    run = Path(run_dir).name
    return [{"run": run, **f} for f in report["findings"]]


def findings_over_runs(findings: list[dict]) -> list[dict]:
    """Per claim, its spread over the runs that measured it (seeds of one config, say): the mean
    and range of the per-run differences, and in how many runs the claim held or reversed. One run's
    interval says how sure that run is; only the spread over seeds says whether training noise could
    have made it, so a claim is settled only when every run agrees."""
    by_id: dict[str, list[dict]] = {}
    for f in findings:
        if f["diff"] is not None:
            by_id.setdefault(f["id"], []).append(f)
    out = []
    for claim_id, fs in sorted(by_id.items()):
        diffs = [f["diff"] for f in fs]
        held = sum(1 for f in fs if f["verdict"] == "holds")
        reversed_ = sum(1 for f in fs if f["verdict"] == "reversed")
        verdict = ("holds in every run" if held == len(fs) else "reversed in every run" if reversed_ == len(fs)
                   else "not distinguishable in every run" if held == reversed_ == 0 else "runs disagree")
        out.append({"id": claim_id, "claim": fs[0]["claim"], "runs": len(fs), "mean_diff": sum(diffs) / len(diffs),
                    "min_diff": min(diffs), "max_diff": max(diffs), "held": held, "reversed": reversed_,
                    "unit": fs[0].get("unit"), "verdict": verdict})
    return out


def _points(value: float, unit: str | None) -> str:
    return f"{value:+.2f}" if unit == "ratio" else f"{100 * value:+.1f}"


def render_findings_over_runs(findings: list[dict]) -> str:
    """One row per (claim, run): a claim measured by several runs (seeds, say) reads down one block;
    then one row per claim over the runs."""
    if not findings:
        return ""
    lines = ["", "## Findings", "", "| claim | run | diff (95% CI) | n test | verdict |", "|---|---|---|---|---|"]
    for f in sorted(findings, key=lambda f: (f["id"], f["run"])):
        lines.append(f"| {f['id']}: {f['claim']} | {f['run']} | {diff_cell(f)} | {f['n_test'] or '-'} | {f['verdict']} |")
    spread = findings_over_runs(findings)
    if spread:
        lines += ["", "## Findings over runs", "",
                  "| claim | runs | mean diff | range over runs | holds / reversed | over runs |", "|---|---|---|---|---|---|"]
        for s in spread:
            lines.append(f"| {s['id']}: {s['claim']} | {s['runs']} | {_points(s['mean_diff'], s['unit'])} | "
                         f"{_points(s['min_diff'], s['unit'])} to {_points(s['max_diff'], s['unit'])} | "
                         f"{s['held']} / {s['reversed']} | {s['verdict']} |")
    return "\n".join(lines) + "\n"


def _rows_labelled(run_dirs: list[str]) -> list[dict]:
    """Each run's rows under its config's name; runs that share that name (seeds of one config) under
    their run directories' names, so their rows can be told apart."""
    per_run = [compare_rows(run_dir) for run_dir in run_dirs]
    names = [rows[0]["run"] if rows else None for rows in per_run]
    out = []
    for run_dir, rows, name in zip(run_dirs, per_run, names):
        label = Path(run_dir).name if names.count(name) > 1 else name
        out += [{**row, "run": label} for row in rows]
    return out


def compare_capability_rows(run_dir: str | Path) -> list[dict]:
    """The run's per-capability rows (eval/compare_capabilities.py); none for a run without capabilities."""
    report = build_report(run_dir)
    return capability_rows(report["run"] or Path(run_dir).name, report)


def write_compare(run_dirs: list[str], out_dir: str | Path) -> str:
    rows = _rows_labelled(run_dirs)
    by_capability = [row for run_dir in run_dirs for row in compare_capability_rows(run_dir)]
    findings = [f for run_dir in run_dirs for f in compare_findings(run_dir)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = render(rows) + render_capabilities(by_capability) + render_findings_over_runs(findings)
    (out_dir / "compare.md").write_text(table)
    (out_dir / "compare.json").write_text(json.dumps({"runs": list(run_dirs), "rows": rows,
                                                      "capabilities": by_capability, "findings": findings,
                                                      "findings_over_runs": findings_over_runs(findings)}, indent=2))
    return table
