"""`w2s compare`'s per-capability view: for runs whose report has `capabilities.<name>` (the
multi_capability recipe, recipes/multi_capability/report.py), one row per (run, model) with its
accuracy on each capability and on all of them pooled, and one row per (run, student) with its PGR
and 95 % interval on each. Runs without capabilities add nothing.
"""
from __future__ import annotations

# The column of every capability pooled: the recipe's key for it (recipes/multi_capability/metrics.ALL),
# spelled here because eval/ is below recipes/ (tests/test_layering.py).
ALL = "all"


def capability_rows(run: str, report: dict) -> list[dict]:
    """[{run, model, acc: {capability: acc}, pgr: {capability: {pgr, low, high} | None}}] of one report."""
    parts = report.get("capabilities") or {}
    if not parts:
        return []
    parts = {**parts, ALL: report.get("averaged") or {}}
    models = list(dict.fromkeys(m for p in parts.values() for m in p.get("models", {})))
    rows = []
    for model in models:
        rows.append({"run": run, "model": model,
                     "acc": {cap: p.get("models", {}).get(model, {}).get("acc") for cap, p in parts.items()},
                     "pgr": {cap: (p.get("pgr") or {}).get(model) for cap, p in parts.items()}})
    return rows


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _pgr(ci: dict | None) -> str:
    if not ci or ci.get("pgr") is None:
        return "-"
    if ci.get("low") is None or ci.get("high") is None:
        return f"{ci['pgr']:.2f}"
    return f"{ci['pgr']:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"


def render_capabilities(rows: list[dict]) -> str:
    """The accuracy table and, for the students with a PGR, the PGR table; "" without rows."""
    if not rows:
        return ""
    caps = list(dict.fromkeys(c for r in rows for c in r["acc"]))
    head = "| run | model | " + " | ".join(caps) + " |"
    rule = "|---|---|" + "---|" * len(caps)
    lines = ["", "## Per capability", "", "Accuracy (%) on each capability's test problems; `all` pools them.", "",
             head, rule]
    lines += [f"| {r['run']} | {r['model']} | " + " | ".join(_acc(r["acc"].get(c)) for c in caps) + " |" for r in rows]
    with_pgr = [r for r in rows if any(r["pgr"].values())]
    if with_pgr:
        lines += ["", "PGR against the run's first weak teacher and its ceiling, [95 % interval].", "", head, rule]
        lines += [f"| {r['run']} | {r['model']} | " + " | ".join(_pgr(r["pgr"].get(c)) for c in caps) + " |"
                  for r in with_pgr]
    return "\n".join(lines) + "\n"
