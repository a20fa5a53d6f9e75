"""`w2s compare`'s per-capability view (eval/compare_capabilities.py), on hand-made reports."""
from __future__ import annotations

import json

from w2s_ray.eval import compare
from w2s_ray.eval.compare_capabilities import capability_rows, render_capabilities


def _part(weak: float, full: float, pgr: dict | None) -> dict:
    return {"models": {"weak": {"acc": weak}, "full_weak_ft": {"acc": full}}, "pgr": {"full_weak_ft": pgr}}


REPORT = {"run": "multicap", "recipe": "multi_capability", "teachers": {}, "baselines": {}, "rounds": [],
          "findings": [],
          "capabilities": {"logic": _part(0.3, 0.5, {"pgr": 0.4, "low": 0.1, "high": 0.7}),
                           "facts": _part(0.6, 0.55, None)},
          "averaged": _part(0.45, 0.525, {"pgr": 0.2, "low": -0.1, "high": 0.5})}


def test_one_row_per_model_with_each_capabilitys_accuracy_and_pgr():
    rows = capability_rows("multicap", REPORT)
    assert [r["model"] for r in rows] == ["weak", "full_weak_ft"]
    assert rows[1]["acc"] == {"logic": 0.5, "facts": 0.55, "all": 0.525}
    assert rows[1]["pgr"]["facts"] is None and rows[0]["pgr"] == {"logic": None, "facts": None, "all": None}
    table = render_capabilities(rows)
    assert "| run | model | logic | facts | all |" in table
    assert "| multicap | weak | 30.0 | 60.0 | 45.0 |" in table
    assert "| multicap | full_weak_ft | 0.40 [0.10, 0.70] | - | 0.20 [-0.10, 0.50] |" in table
    assert "| multicap | weak | -" not in table  # no PGR row for a model without one


def test_a_run_without_capabilities_adds_nothing():
    assert capability_rows("demo", {"run": "demo"}) == [] and render_capabilities([]) == ""


def test_write_compare_adds_the_view_to_compare_md_and_json(tmp_path, monkeypatch):
    monkeypatch.setattr(compare, "build_report", lambda run_dir: REPORT)
    table = compare.write_compare(["runs/multicap"], tmp_path)
    assert "## Per capability" in table and (tmp_path / "compare.md").read_text() == table
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert [r["model"] for r in saved["capabilities"]] == ["weak", "full_weak_ft"]


def test_the_pooled_column_is_the_recipes_key_for_it():
    from w2s_ray.eval import compare_capabilities
    from w2s_ray.recipes.multi_capability import metrics

    assert compare_capabilities.ALL == metrics.ALL
