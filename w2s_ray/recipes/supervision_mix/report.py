"""The report's `mixes` (recipe supervision_mix): per mix, the measured errors of the set it was
trained on (recorded by its select stage, before training) beside its accuracy by level.

    {name, outcome_error, step_error, step_error_from, checker_step_error, n_rows, n_steps, n_wrong_steps,
     parts, acc, n, acc_by_level}

A mix is a student_eval whose select stage (same label) recorded a `supervision` measurement.

`findings` checks each configured claim (supervision_mix.findings: mix `better` beats mix `worse`)
as a paired difference over test problems (eval/findings.py); both sets' measured errors stand
beside it, since they are what would explain a finding that does not hold.
"""
from __future__ import annotations

from w2s_ray.eval.accuracy import stage_accuracy
from w2s_ray.eval.findings import paired_finding
from w2s_ray.eval.pgr_interval import correct_by_problem
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_tags import tagged

LEVELS = (1, 2, 3, 4, 5)


def mix_rows(manifest: Manifest) -> list[dict]:
    """One row per measured set, in the order the run measured them; `acc` and `acc_by_level` are None
    until its student is evaluated."""
    evals = {tag.label: key for key, tag in tagged(manifest, "student_eval")}
    rows = []
    for key, tag in tagged(manifest, "select"):
        m = manifest.record(key)["metrics"].get("supervision")
        if m is None:
            continue
        acc = stage_accuracy(manifest, evals.get(tag.label)) or {}
        rows.append({"name": tag.label, "outcome_error": m["outcome_error"], "step_error": m["step_error"],
                     "step_error_from": m["step_error_from"], "checker_step_error": m["checker_step_error"],
                     "n_rows": m["n"], "n_steps": m["n_steps"], "n_wrong_steps": m["n_wrong_steps"],
                     "parts": m["parts"], "acc": acc.get("acc"), "n": acc.get("n"),
                     "acc_by_level": acc.get("acc_by_level"), "eval_stage": evals.get(tag.label) if acc else None})
    return rows


def findings(manifest: Manifest, mixes: list[dict]) -> list[dict]:
    """One entry per configured claim (eval/findings.py), with both sets' measured errors beside it."""
    by_name = {m["name"]: m for m in mixes}
    out = []
    for claim in (manifest.config.get("supervision_mix") or {}).get("findings", []):
        better, worse = by_name.get(claim["better"]), by_name.get(claim["worse"])
        measured = bool(better and worse and better["eval_stage"] and worse["eval_stage"])
        # Not "better" / "worse": those are paired_finding's own arguments (the per-problem values).
        extra = {"better_mix": claim["better"], "worse_mix": claim["worse"]}
        if measured:
            extra["sets"] = {m["name"]: {k: m[k] for k in ("acc", "outcome_error", "step_error", "n_rows",
                                                           "acc_by_level")} for m in (better, worse)}
        out.append(paired_finding(f"{claim['better']}>{claim['worse']}", claim["claim"],
                                  correct_by_problem(manifest, better["eval_stage"]) if measured else None,
                                  correct_by_problem(manifest, worse["eval_stage"]) if measured else None, **extra))
    return out


def render_mixes(mixes: list[dict]) -> list[str]:
    """Markdown lines: one row per mix, its set's errors and its accuracy (%) overall and by level."""
    head = ["mix", "rows", "outcome err %", "step err %", "acc"] + [f"L{lvl}" for lvl in LEVELS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in mixes:
        trained = m["acc"] is not None
        cells = [m["name"], str(m["n_rows"]), _pct(m["outcome_error"]), _pct(m["step_error"]),
                 f"{100 * m['acc']:.1f}" if trained else "not yet"]
        cells += [_pct(m["acc_by_level"].get(lvl)) if trained else "-" for lvl in LEVELS]
        lines.append("| " + " | ".join(cells) + " |")
    source = mixes[0]["step_error_from"] if mixes else "gold steps"
    lines += ["", f"Errors are of the training set, measured before training; step error from {source} "
              "(wrong steps / all steps)."]
    return lines


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}"


def build(manifest: Manifest, _common: dict) -> dict:
    mixes = mix_rows(manifest)
    return {"mixes": mixes, "findings": findings(manifest, mixes)}


def markdown(report: dict) -> list[str]:
    return ["", "## Supervision mixes", "", *render_mixes(report["mixes"])]


def curves(report: dict) -> list[tuple[str, dict]]:
    return [(m["name"], m["acc_by_level"]) for m in report["mixes"] if m["acc"] is not None]

