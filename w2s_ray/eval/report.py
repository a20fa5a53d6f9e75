"""The run report: report.json, report.md and a PNG of accuracy by level per round, built from the
manifest alone (so `w2s report` works on any finished or partial run directory).

PGR, performance gap recovered (Burns et al. 2023): (acc - acc_weak) / (acc_ceiling - acc_weak),
reported only where acc_ceiling > acc_weak.
"""
from __future__ import annotations

import json
from pathlib import Path

from w2s_ray.eval.accuracy import stage_accuracy
from w2s_ray.eval.findings import render_findings
from w2s_ray.eval.pgr_interval import correct_by_problem, pgr_interval
from w2s_ray.eval.selection_stats import selection_stats, strong_half_gold
from w2s_ray.recipes.base import recipe_report
from w2s_ray.run.environment import differences
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_tags import tagged

# Always in report.json (null when the run has no such stage); a recipe may tag more baselines.
BASELINES = ("strong_base", "strong_base_few_shot", "ceiling", "full_weak_ft")


def pgr(acc: float | None, weak: float | None, ceiling: float | None) -> float | None:
    if acc is None or weak is None or ceiling is None or ceiling <= weak:
        return None
    return (acc - weak) / (ceiling - weak)


def build_report(run_dir: str | Path) -> dict:
    """The report of a run, from the tags its recipe gave its stages (run/stage_tags.py)."""
    manifest = Manifest.load(run_dir)
    weak_names = [t["name"] for t in manifest.config["weak"]]
    weak_keys = {tag.teacher: key for key, tag in tagged(manifest, "baseline") if tag.label == "weak"}
    baseline_keys = {tag.label: key for key, tag in tagged(manifest, "baseline") if tag.label != "weak"}
    select_keys = {tag.label: key for key, tag in tagged(manifest, "select")}
    gold = strong_half_gold(manifest) if select_keys else {}
    baselines = {"weak": stage_accuracy(manifest, weak_keys.get(weak_names[0])) if weak_names else None}
    baselines.update({name: stage_accuracy(manifest, baseline_keys.get(name)) for name in BASELINES})
    baselines.update({name: stage_accuracy(manifest, key) for name, key in baseline_keys.items() if name not in baselines})
    weak_acc = (baselines["weak"] or {}).get("acc")
    ceiling_acc = (baselines["ceiling"] or {}).get("acc")
    weakly_supervised = []  # (report row, its eval key): the models PGR is about
    for name, row in baselines.items():
        if row and name in select_keys:  # a baseline that learned from a selection of weak data
            row["pgr"] = pgr(row["acc"], weak_acc, ceiling_acc)
            row["selection"] = selection_stats(manifest, select_keys[name], gold)
            weakly_supervised.append((row, baseline_keys[name]))

    rounds, students = [], {}  # students: the evaluated students that are no round of a loop, by label
    for key, tag in tagged(manifest, "student_eval"):
        acc = stage_accuracy(manifest, key)
        if acc is None:
            continue
        select_key = select_keys.get(tag.label)
        selection = selection_stats(manifest, select_key, gold) if select_key else None
        if tag.round is None:
            students[tag.label] = {**acc, "pgr": pgr(acc["acc"], weak_acc, ceiling_acc), "selection": selection}
            weakly_supervised.append((students[tag.label], key))
        else:
            rounds.append({"round": tag.round, "acc": acc["acc"], "acc_by_level": acc["acc_by_level"],
                           "pgr": pgr(acc["acc"], weak_acc, ceiling_acc),
                           "selected_rows": manifest.record(select_key)["rows_out"] if select_key else None,
                           "selection": selection})
            weakly_supervised.append((rounds[-1], key))
    rounds.sort(key=lambda r: r["round"])
    _add_pgr_intervals(manifest, weak_names, weak_keys, baseline_keys.get("ceiling"), weakly_supervised)
    stage_seconds = {key: manifest.record(key)["seconds"] for key in manifest.stages()}
    report = {"run": manifest.config.get("name"), "recipe": manifest.config.get("recipe"),
              "config_hash": manifest.config_hash,
              "baselines": baselines, "teachers": _teachers(manifest, weak_names, weak_keys, rounds),
              "rounds": rounds, "students": students,
              "failures": manifest.failures(), "data": manifest.data(), "stage_seconds": stage_seconds,
              "throughput": _throughput(manifest), "environment": _environment(manifest)}
    for key, _ in tagged(manifest, "report"):  # a recipe's own sections (run/stage_tags.py)
        for name, value in (manifest.record(key)["metrics"].get("report") or {}).items():
            report.setdefault(name, value)
    for name, value in recipe_report(manifest.config.get("recipe")).build(manifest, report).items():  # recipes/base.py
        report.setdefault(name, value)
    report.setdefault("findings", [])  # the paper's claims this run tests (eval/findings.py)
    return report


def _environment(manifest: Manifest) -> dict | None:
    """The machine and libraries of the run's last open; `changed` lists what differed from its first
    (a run resumed on another machine or after an upgrade mixes both)."""
    history = manifest.environments()
    if not history:
        return None
    first, last = ({k: v for k, v in e.items() if k != "noted"} for e in (history[0], history[-1]))
    return {**history[-1], "opens_recorded": len(history), "changed": differences(first, last)}


def _add_pgr_intervals(manifest: Manifest, weak_names: list[str], weak_keys: dict[str, str],
                       ceiling_key: str | None, targets: list[tuple[dict, str]]) -> None:
    """Each weakly supervised model gets `pgr_ci` (bootstrap over test problems, against the first
    teacher, as `pgr`) and `pgr_by_teacher` (the same against every teacher)."""
    ceiling = correct_by_problem(manifest, ceiling_key) if ceiling_key else None
    if ceiling is None:
        return
    weak = {n: correct_by_problem(manifest, weak_keys[n]) if n in weak_keys else None for n in weak_names}
    for row, key in targets:
        model = correct_by_problem(manifest, key)
        if model is None:
            continue
        by_teacher = {n: pgr_interval(model, w, ceiling) for n, w in weak.items() if w is not None}
        row["pgr_by_teacher"] = by_teacher
        row["pgr_ci"] = by_teacher.get(weak_names[0]) if weak_names else None


def _teachers(manifest: Manifest, names: list[str], weak_keys: dict[str, str], rounds: list[dict]) -> dict:
    """Per weak teacher: its own accuracy, and how it fared in the first round's selection."""
    first = (rounds[0].get("selection") or {}).get("by_teacher", {}) if rounds else {}
    out = {}
    for name in names:
        acc = stage_accuracy(manifest, weak_keys.get(name))
        out[name] = None if acc is None else {**acc, "selection_round_1": first.get(name)}
    return out


def _throughput(manifest: Manifest) -> dict[str, dict]:
    """Per stage: generated tokens/s and scored rows/s (generate stages), train tokens/s."""
    out = {}
    for key in manifest.stages():
        m = manifest.record(key)["metrics"]
        if "generate" in m:
            out[key] = {"engine": m["generate"]["engine"], "generated_tokens": m["generate"]["generated_tokens"],
                        "generate_seconds": m["generate"]["seconds"], "tokens_per_s": m["generate"]["tokens_per_s"],
                        "score_rows_per_s": m["score"]["rows_per_s"]}
        elif "tokens_per_second" in m:
            out[key] = {"train_tokens_per_s": m["tokens_per_second"], "samples_per_s": m.get("samples_per_second"),
                        "train_seconds": m.get("train_seconds"), "final_train_loss": m.get("final_train_loss"),
                        "steps": m.get("steps"), "best_step": (m.get("early_stopping") or {}).get("best_step")}
    return out


def render_markdown(report: dict) -> str:
    levels = sorted({lvl for row in model_rows(report) for lvl in row[1]["acc_by_level"]})
    lines = [f"# w2s-ray report: {report['run']}", "",
             "Greedy accuracy (%) on the test split, by level; PGR against the first weak teacher and the gold "
             "ceiling, with a 95% bootstrap interval over test problems.", "",
             "| model | acc | " + " | ".join(f"L{l}" for l in levels) + " | PGR | selected rows |",
             "|---|---|" + "---|" * len(levels) + "---|---|"]
    for name, row in model_rows(report):
        cells = [f"{100 * row['acc_by_level'].get(l, float('nan')):.0f}" for l in levels]
        lines.append(f"| {name} | {100 * row['acc']:.1f} | " + " | ".join(cells)
                     + f" | {_pgr_cell(row)} | {row.get('selected_rows') or '-'} |")
    lines += recipe_report(report.get("recipe")).markdown(report)
    if report.get("findings"):
        lines += ["", "## Findings: the paper's claims against this run", "", *render_findings(report["findings"])]
    lines += ["", "## Stages", "",
              "Wall seconds per stage; generation rates include the engine's start-up where the stage "
              "started its engines (a stage right after one on the same model reuses them).", "",
              "| stage | seconds | throughput |", "|---|---|---|"]
    for key, seconds in report["stage_seconds"].items():
        lines.append(f"| {key} | {seconds:.1f} | {_rate(report['throughput'].get(key))} |")
    data = report.get("data") or {}
    if "quarantined" in data:  # files only: what loading them set aside
        lines += ["", "## Data", "", f"Sizes {data['sizes']}; quarantined lines {data['quarantined']}; "
                  f"duplicate questions dropped {data['duplicates']} (a repeat with another gold is a "
                  f"quarantined line, or the load's error); content hash {data['data_hash']}."]
    env = report.get("environment")
    if env:
        versions = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
        lines += ["", "## Environment", "",
                  f"{env['cpu'].get('model')} ({env['cores']} cores; torch kernels {env['torch']['cpu_capability']}, "
                  f"{_mkl_path(env['torch'])}driver threads {env['torch']['num_threads']}); {versions}. "
                  + (f"CPU kernels pinned: {pin}. " if (pin := (env.get("env") or {}).get("W2S_CPU_KERNELS")) else "")
                  + (f"Changed since the run's first open: {', '.join(env['changed'])}." if env["changed"] else "")]
    return "\n".join(lines) + "\n"


def _mkl_path(torch_env: dict) -> str:
    """MKL's code path: the pinned branch, else the one MKL picks for this CPU (absent in old runs)."""
    pinned, auto = torch_env.get("mkl_cbwr_branch"), torch_env.get("mkl_auto_branch")
    if pinned not in (None, 1):
        return f"MKL branch {pinned} (pinned), "
    return f"MKL branch {auto} (its pick), " if auto is not None else ""


def _pgr_cell(row: dict) -> str:
    p, ci = row.get("pgr"), row.get("pgr_ci")
    if p is None:
        return "-"
    if ci and ci.get("low") is not None:
        return f"{p:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"
    return f"{p:.2f}"


def _rate(t: dict | None) -> str:
    if not t:
        return ""
    if "tokens_per_s" in t:
        return (f"{t['generated_tokens']} tokens generated ({t['engine']}), {t['tokens_per_s']:.0f} tokens/s; "
                f"scored {t['score_rows_per_s']:.0f} rows/s")
    rate = f"train {t['train_tokens_per_s']:.0f} tokens/s, {t['samples_per_s']:.1f} samples/s, loss {t['final_train_loss']:.3f}"
    if t.get("steps"):
        rate += f", {t['steps']} steps"
    if t.get("best_step") is not None:  # early stopping's pick: the last step means the loss still fell
        rate += f" (kept step {t['best_step']}, lowest held-out loss)"
    return rate


def model_rows(report: dict) -> list[tuple[str, dict]]:
    """(name, row) of every model in report.md's table: teachers, baselines, rounds, the recipe's students."""
    rows = [(f"weak: {n}", acc) for n, acc in report["teachers"].items() if acc]
    rows += [(name, acc) for name, acc in report["baselines"].items() if acc and name != "weak"]
    rows += [(f"round {r['round']}", r) for r in report["rounds"]]
    return rows + recipe_report(report.get("recipe")).rows(report)


def figure(report: dict):
    """report.png's figure: accuracy by level, then the recipe's own panels (recipes/base.py) beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = recipe_report(report.get("recipe")).panels(report)
    fig, axes = plt.subplots(1, 1 + len(panels), figsize=(7 + 6 * len(panels), 4.5), squeeze=False)
    ax = axes[0][0]
    for name, style in (("weak", "k--"), ("ceiling", "g--"), ("full_weak_ft", "r:"), ("strong_base", "b:")):
        acc = report["baselines"].get(name)
        if acc:
            levels = sorted(acc["acc_by_level"])
            ax.plot(levels, [acc["acc_by_level"][l] for l in levels], style, label=name)
    for r in report["rounds"]:
        levels = sorted(r["acc_by_level"])
        ax.plot(levels, [r["acc_by_level"][l] for l in levels], "o-", label=f"round {r['round']}")
    for label, by_level in recipe_report(report.get("recipe")).curves(report):
        levels = sorted(by_level)
        ax.plot(levels, [by_level[l] for l in levels], "x-", label=label)
    ax.set_xlabel("level (reasoning steps)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.set_title(f"{report['run']}: accuracy by level")
    for draw, panel_ax in zip(panels, axes[0][1:]):
        draw(panel_ax)
    fig.tight_layout()
    return fig


def plot(report: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = figure(report)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    report = build_report(run_dir)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    (run_dir / "report.md").write_text(render_markdown(report))
    plot(report, run_dir / "report.png")
    return report
