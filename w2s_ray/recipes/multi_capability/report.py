"""The multi_capability recipe's part of the report, read from the manifest (recipes/base.py):

  capabilities.<name>  per capability: each model's accuracy (overall and by level), PGR of full weak
                       FT and of RM two-stage against the first weak teacher and the ceiling (95 %
                       interval over that capability's test problems), the ceiling's lead over the weak
                       teacher (issue 28 asks for >= 20 points), the RM selection judged against gold
                       after the fact, and the bootstrap rounds' accuracy, confidence and diversity
  averaged             the same over every capability's test problems together
  independence         the capability x capability matrix of accuracy change over the strong base
                       (trained on one capability's weak data, evaluated on each), and all mixed
                       (full weak FT) minus each alone on its own capability
  findings             (a) independence, (b) bootstrapping degrades after round 1, (c) RM-selected
                       two-stage beats full weak FT; per capability and over all (eval/findings.py);
                       with `logconf: true`, logconf against plain CE (aux weight 0) per choice
                       capability and over them all, both scored over the options
"""
from __future__ import annotations

from w2s_ray.eval.findings import finding, mean_interval, paired_finding, paired_interval, restrict
from w2s_ray.eval.pgr_interval import pgr_interval
from w2s_ray.recipes.multi_capability import data as mc_data
from w2s_ray.recipes.multi_capability.keys import (FULL_WEAK_FT, LOGCONF, PLAIN_CE, RM_JUDGE, RM_SELECT, TWO_STAGE,
                                                   only, round_label, sample_key)
from w2s_ray.recipes.multi_capability.metrics import (ALL, accuracy_by_capability, diversity, independence_matrix,
                                                      judge_selection, own_minus_others)
from w2s_ray.run.stage_io import read_output
from w2s_ray.run.stage_tags import tagged

CEILING_LEAD = 0.20  # issue 28: each capability's ceiling at least 20 points above its weak teacher


def _rows(manifest, key: str | None) -> list[dict] | None:
    if key is None or not manifest.is_complete(key):
        return None
    output = manifest.record(key)["outputs"].get("rows")
    return read_output(output) if output is not None else None


def _correct(rows: list[dict] | None) -> dict[str, float] | None:
    if rows is None:
        return None
    return {str(r["problem_id"]): float(bool(r["correct"])) for r in rows if r.get("has_gold", r.get("gold") is not None)}


def eval_keys(manifest) -> dict[str, str]:
    """{model name: eval stage}: the first weak teacher as "weak", the baselines, every student."""
    weak_names = [t["name"] for t in manifest.config["weak"]]
    keys = {}
    for key, tag in tagged(manifest, "baseline"):
        if tag.label != "weak":
            keys[tag.label] = key
        elif weak_names and tag.teacher == weak_names[0]:
            keys["weak"] = key
    keys.update({tag.label: key for key, tag in tagged(manifest, "student_eval")})
    return keys


def build(manifest, _common: dict) -> dict:
    section = manifest.config.get("multi_capability") or {}
    caps = list(section.get("capabilities") or [])
    keys = eval_keys(manifest)
    rows = {name: _rows(manifest, key) for name, key in keys.items()}
    correct = {name: _correct(r) for name, r in rows.items()}
    acc = {name: accuracy_by_capability(r) for name, r in rows.items() if r is not None}
    of = {str(r["problem_id"]): mc_data.capability_of(r) for rs in rows.values() if rs for r in rs}
    ids = {cap: [pid for pid, c in of.items() if c == cap] for cap in caps}
    ids[ALL] = list(of)
    n_rounds = int(section.get("bootstrap_rounds") or 0)
    round_names = [FULL_WEAK_FT] + [round_label(r) for r in range(2, n_rounds + 1)]
    samples = {r: diversity(s) for r in range(1, n_rounds + 1) if (s := _rows(manifest, sample_key(r))) is not None}
    judged = _judge_rm(manifest, section)

    def part(cap: str) -> dict:
        models = {name: a[cap] for name, a in acc.items() if cap in a}
        weak, ceiling = models.get("weak", {}).get("acc"), models.get("ceiling", {}).get("acc")
        lead = ceiling - weak if weak is not None and ceiling is not None else None
        pgr = {}
        for name in (FULL_WEAK_FT, TWO_STAGE):
            ci = None
            if all(correct.get(n) for n in (name, "weak", "ceiling")):
                ci = pgr_interval(*(restrict(correct[n], ids[cap]) for n in (name, "weak", "ceiling")))
            pgr[name] = ci
        curve = [{"round": i + 1, "acc": models.get(name, {}).get("acc"),
                  **{k: samples.get(i + 1, {}).get(cap, {}).get(k) for k in ("confidence", "distinct_solutions",
                                                                             "distinct_answers")}}
                 for i, name in enumerate(round_names)]
        return {"models": models, "pgr": pgr, "ceiling_lead": lead,
                "ceiling_lead_ok": None if lead is None else lead >= CEILING_LEAD,
                "rm_selection": (judged or {}).get(cap), "bootstrap": curve}

    return {"capabilities": {cap: part(cap) for cap in caps}, "averaged": part(ALL),
            "independence": _independence(acc, correct, of, caps),
            "findings": findings(correct, ids, caps, n_rounds)
            + (logconf_findings(correct, ids, caps) if section.get("logconf") else [])}


def _judge_rm(manifest, section: dict) -> dict | None:
    """The RM's kept weak solutions judged against the strong half's gold, after the fact: the rm/judge
    stage's (judged in the workers), or, for a run from before it, from the rows here."""
    if manifest.is_complete(RM_JUDGE):
        return manifest.record(RM_JUDGE)["metrics"]["rm_selection"]
    kept, scored = _rows(manifest, RM_SELECT), _rows(manifest, "rm/score")
    if kept is None or scored is None:
        return None
    from w2s_ray.recipes.multi_capability.config import MultiCapabilityConfig

    mc = MultiCapabilityConfig.model_validate(section)
    gold = {p.id: p.gold for p in mc_data.strong_half_gold(mc, manifest.config["data"]["seed"])}
    return judge_selection(kept, scored, gold)


def _independence(acc: dict, correct: dict, of: dict, caps: list[str]) -> dict | None:
    trained = {cap: {c: v["acc"] for c, v in acc[only(cap)].items()} for cap in caps if only(cap) in acc}
    if not trained or "strong_base" not in acc:
        return None
    base = {c: v["acc"] for c, v in acc["strong_base"].items()}
    out = independence_matrix(trained, base)
    mixed = correct.get(FULL_WEAK_FT)
    out["mixed_minus_alone"] = {
        cap: paired_interval(restrict(mixed, [p for p, c in of.items() if c == cap]),
                             restrict(correct.get(only(cap)), [p for p, c in of.items() if c == cap]))
        for cap in caps if mixed and correct.get(only(cap))}
    return out


def findings(correct: dict, ids: dict, caps: list[str], n_rounds: int) -> list[dict]:
    """(a), (b), (c) for each capability and over all (ALL pools every capability's problems)."""
    out = []
    by_student = {cap: correct[only(cap)] for cap in caps if correct.get(only(cap))}
    last = round_label(n_rounds) if n_rounds > 1 else None
    for cap in [*caps, ALL]:
        if len(by_student) == len(caps) > 1:
            values = {}
            for d in (caps if cap == ALL else [cap]):
                values.update(own_minus_others(by_student, {p: c for c in caps for p in ids[c]}, d))
            out.append(finding(f"independence:{cap}", "trained on its own weak data, a capability gains more "
                               "than from another capability's (diagonal over off-diagonal)", mean_interval(values)))
        else:
            out.append(finding(f"independence:{cap}", "independence", None,
                               "needs a student per capability and at least two capabilities"))
        out.append(paired_finding(f"bootstrap_degrades:{cap}", "self-bootstrapping degrades after round 1 "
                                  "(round 1 more accurate than the last round)",
                                  restrict(correct.get(FULL_WEAK_FT), ids[cap]),
                                  restrict(correct.get(last), ids[cap]) if last else None))
        out.append(paired_finding(f"rm_two_stage>full_weak_ft:{cap}", "RM-selected two-stage training is more "
                                  "accurate than full weak FT", restrict(correct.get(TWO_STAGE), ids[cap]),
                                  restrict(correct.get(FULL_WEAK_FT), ids[cap])))
    return out


def logconf_findings(correct: dict, ids: dict, caps: list[str]) -> list[dict]:
    """logconf minus plain CE, paired over each choice capability's test problems and over them all
    (both students are scored on the choice capabilities alone, so ALL pools those)."""
    from w2s_ray.recipes.multi_capability.choice_rows import is_choice

    claim = "the auxiliary confidence loss is more accurate than plain cross-entropy on the weak labels"
    return [paired_finding(f"logconf>plain_ce:{cap}", claim, restrict(correct.get(LOGCONF), ids[cap]),
                           restrict(correct.get(PLAIN_CE), ids[cap]))
            for cap in [*(c for c in caps if is_choice(c)), ALL]]


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _pgr(ci: dict | None) -> str:
    if not ci or ci.get("pgr") is None:
        return "-"
    return f"{ci['pgr']:.2f}" + ("" if ci.get("low") is None else f" [{ci['low']:.2f}, {ci['high']:.2f}]")


def markdown(report: dict) -> list[str]:
    caps = list(report.get("capabilities") or {})
    if not caps:
        return []
    parts = {**report["capabilities"], ALL: report["averaged"]}
    models = list(dict.fromkeys(m for p in parts.values() for m in p["models"]))
    lines = ["", "## Capabilities", "", "Greedy accuracy (%) per capability; `all` pools every capability's test "
             "problems.", "", "| model | " + " | ".join([*caps, ALL]) + " |", "|---|" + "---|" * (len(caps) + 1)]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(_pct(parts[c]["models"].get(m, {}).get("acc")) for c in [*caps, ALL]) + " |")
    lines.append("| ceiling - weak | " + " | ".join(
        _pct(parts[c]["ceiling_lead"]) + ("" if parts[c]["ceiling_lead_ok"] in (None, True) else " (< 20)")
        for c in [*caps, ALL]) + " |")
    for student in (FULL_WEAK_FT, TWO_STAGE):
        if any(parts[c]["pgr"].get(student) for c in [*caps, ALL]):
            lines.append(f"| PGR {student} [95 % CI] | " + " | ".join(_pgr(parts[c]["pgr"].get(student))
                                                                  for c in [*caps, ALL]) + " |")
    lines.append("| RM kept right % (all %) | " + " | ".join(
        f"{_pct(s['precision'])} ({_pct(s['base_rate'])})" if (s := parts[c]["rm_selection"]) else "-"
        for c in [*caps, ALL]) + " |")
    ind = report.get("independence")
    if ind:
        lines += ["", "Independence: accuracy change (points) over the strong base, trained on the row's capability "
                  "alone, evaluated on the column's.", "", "| trained on | " + " | ".join(caps) + " |",
                  "|---|" + "---|" * len(caps)]
        for t, row in ind["change"].items():
            lines.append(f"| {t} | " + " | ".join(_pct(row.get(c)) for c in caps) + " |")
    lines += ["", "Bootstrapping (all capabilities): round, acc %, confidence, distinct solutions, distinct answers.", ""]
    for r in report["averaged"]["bootstrap"]:
        lines.append(f"- round {r['round']}: {_pct(r['acc'])} | {_pct(r['confidence'])} | "
                     f"{_pct(r['distinct_solutions'])} | {_pct(r['distinct_answers'])}")
    return lines

