"""The w2s_reasoning recipe's part of the report: Stage II, the student its recipe tags "stage2"
(recipe.py), with its preference pairs judged against the strong half's gold after the fact."""
from __future__ import annotations

STAGE2 = "stage2"  # the label recipe.py tags Stage II's stages with


def build(manifest, common: dict) -> dict:
    student = common["students"].get(STAGE2)
    if student is None:
        return {"stage2": None}
    selection = student["selection"]
    return {"stage2": {**student, "pairs": selection["rows"] if selection else None}}


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
