"""The w2s_reasoning recipe's part of the report: Stage II, the student its recipe tags "stage2"
(recipe.py), with its preference pairs judged against the strong half's gold after the fact, and the
paper's claims this run can test (`findings`, eval/findings.py):

  full_weak_ft_pgr    full weak fine-tuning recovers part of the gap (PGR > 0; Yang et al. table 1)
  stage1>full_weak_ft Stage I's last round is more accurate than full weak FT
  stage2>stage1_L45   Stage II raises accuracy on the hard problems (levels 4-5) over Stage I's last round
"""
from __future__ import annotations


from w2s_ray.eval.findings import finding, paired_finding, restrict
from w2s_ray.eval.pgr_interval import correct_by_problem
from w2s_ray.run.stage_io import read_output
from w2s_ray.run.stage_tags import tagged

STAGE2 = "stage2"  # the label recipe.py tags Stage II's stages with
FULL_WEAK_FT = "full_weak_ft"
HARD_LEVELS = (4, 5)


def build(manifest, common: dict) -> dict:
    student = common["students"].get(STAGE2)
    stage2 = None
    if student is not None:
        selection = student["selection"]
        stage2 = {**student, "pairs": selection["rows"] if selection else None}
    return {"stage2": stage2, "findings": findings(manifest, common)}


def findings(manifest, common: dict) -> list[dict]:
    """The three claims, each "not run" with its reason where a model it compares is missing."""
    full = next((key for key, tag in tagged(manifest, "baseline") if tag.label == FULL_WEAK_FT), None)
    rounds = sorted((tag.round, key) for key, tag in tagged(manifest, "student_eval") if tag.round is not None)
    last = rounds[-1] if rounds else None
    stage2 = next((key for key, tag in tagged(manifest, "student_eval") if tag.label == STAGE2), None)
    return [_full_weak_pgr(common, full), _stage1_over_full(manifest, last, full),
            _stage2_hard(manifest, last, stage2)]


def _full_weak_pgr(common: dict, full: str | None) -> dict:
    claim = "full weak FT recovers part of the weak-to-ceiling gap (PGR > 0)"
    ci = ((common.get("baselines") or {}).get(FULL_WEAK_FT) or {}).get("pgr_ci")
    if full is None or ci is None or ci.get("low") is None:
        why = ("full weak FT was not evaluated" if full is None else
               "no PGR interval: the weak or ceiling baseline is missing, or the ceiling is not above the weak")
        return finding("full_weak_ft_pgr", claim, None, why, unit="ratio")
    return finding("full_weak_ft_pgr", claim, {"diff": ci["pgr"], "low": ci["low"], "high": ci["high"],
                                               "problems": ci["problems"]}, unit="ratio")


def _stage1_over_full(manifest, last, full: str | None) -> dict:
    claim = "Stage I (last round) is more accurate than full weak FT"
    if last is None or full is None:
        return finding("stage1>full_weak_ft", claim, None,
                       "no Stage I round was evaluated" if last is None else "full weak FT was not evaluated")
    return paired_finding("stage1>full_weak_ft", claim, correct_by_problem(manifest, last[1]),
                          correct_by_problem(manifest, full), round=last[0])


def _stage2_hard(manifest, last, stage2: str | None) -> dict:
    claim = "Stage II raises accuracy on levels 4-5 over Stage I's last round"
    if last is None or stage2 is None:
        return finding("stage2>stage1_L45", claim, None,
                       "Stage II was not run" if stage2 is None else "no Stage I round was evaluated")
    hard = [pid for pid, level in levels(manifest, stage2).items() if level in HARD_LEVELS]
    if not hard:
        return finding("stage2>stage1_L45", claim, None, "the test split has no level 4-5 problems")
    return paired_finding("stage2>stage1_L45", claim, restrict(correct_by_problem(manifest, stage2), hard),
                          restrict(correct_by_problem(manifest, last[1]), hard), round=last[0],
                          levels=list(HARD_LEVELS))


def levels(manifest, key: str) -> dict[str, int]:
    """{problem_id: level} of an eval stage's rows (the test problems' own levels)."""
    output = manifest.record(key)["outputs"].get("rows")
    if output is None:
        return {}
    return {r["problem_id"]: int(r["level"]) for r in read_output(output)
            if r.get("level") is not None}


def rows(report: dict) -> list[tuple[str, dict]]:
    stage2 = report.get("stage2")
    return [("stage II", {**stage2, "selected_rows": stage2["pairs"]})] if stage2 else []


def markdown(report: dict) -> list[str]:
    by_level = ((report.get("stage2") or {}).get("selection") or {}).get("pairs_by_level")
    if not by_level:
        return []
    cells = "; ".join(f"L{level} {t['pairs']} pairs, chosen right {100 * t['chosen_right']:.0f}%, "
                      f"rejected wrong {100 * t['rejected_wrong']:.0f}%" for level, t in by_level.items())
    return ["", f"Stage II pairs, judged against the strong half's gold after the fact: {cells}."]


def curves(report: dict) -> list[tuple[str, dict]]:
    stage2 = report.get("stage2")
    return [("stage II", stage2["acc_by_level"])] if stage2 else []
