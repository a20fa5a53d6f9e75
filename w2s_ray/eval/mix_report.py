"""The report's `mixes` (recipe supervision_mix): per mix, the measured errors of the set it was
trained on (recorded by its select stage, before training) beside its accuracy by level.

    {name, outcome_error, step_error, step_error_from, checker_step_error, n_rows, n_steps, n_wrong_steps,
     parts, acc, n, acc_by_level}

A mix is a student_eval whose select stage (same label) recorded a `supervision` measurement.
"""
from __future__ import annotations

from w2s_ray.manifest import Manifest
from w2s_ray.stage_tags import tagged

LEVELS = (1, 2, 3, 4, 5)


def mix_rows(manifest: Manifest, accuracy) -> list[dict]:
    """`accuracy(manifest, key)` is the report's reader of an eval stage ({acc, n, acc_by_level})."""
    measured = {}
    for key, tag in tagged(manifest, "select"):
        supervision = manifest.record(key)["metrics"].get("supervision")
        if supervision is not None:
            measured[tag.label] = supervision
    rows = []
    for key, tag in tagged(manifest, "student_eval"):
        m, acc = measured.get(tag.label), accuracy(manifest, key)
        if m is None or acc is None:
            continue
        rows.append({"name": tag.label, "outcome_error": m["outcome_error"], "step_error": m["step_error"],
                     "step_error_from": m["step_error_from"], "checker_step_error": m["checker_step_error"],
                     "n_rows": m["n"], "n_steps": m["n_steps"], "n_wrong_steps": m["n_wrong_steps"], "parts": m["parts"], "acc": acc["acc"], "n": acc["n"],
                     "acc_by_level": acc["acc_by_level"]})
    return rows


def render_mixes(mixes: list[dict]) -> list[str]:
    """Markdown lines: one row per mix, its set's errors and its accuracy (%) overall and by level."""
    head = ["mix", "rows", "outcome err %", "step err %", "acc"] + [f"L{lvl}" for lvl in LEVELS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in mixes:
        cells = [m["name"], str(m["n_rows"]), _pct(m["outcome_error"]), _pct(m["step_error"]), f"{100 * m['acc']:.1f}"]
        cells += [_pct(m["acc_by_level"].get(lvl)) for lvl in LEVELS]
        lines.append("| " + " | ".join(cells) + " |")
    source = mixes[0]["step_error_from"] if mixes else "gold steps"
    lines += ["", f"Errors are of the training set, measured before training; step error from {source} "
              "(wrong steps / all steps)."]
    return lines


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}"
