"""A recipe's own report section: registered by recipe name (eval/report_sections.py), merged into
report.json, appended to report.md and drawn in the PNG, with report.py naming no recipe."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_stage_tags import _run
from w2s_ray.eval import report_sections
from w2s_ray.eval.report import build_report, render_markdown, write_report
from w2s_ray.eval.report_sections import register_report_section
from w2s_ray.recipe_configs import RECIPE_SECTIONS


@pytest.fixture
def fresh_registry(monkeypatch):
    report_sections.report_section(None)  # the built-in sections register first, in the real registry
    monkeypatch.setattr(report_sections, "REPORT_SECTIONS", dict(report_sections.REPORT_SECTIONS))


def _as_recipe(run_dir: Path, recipe: str) -> None:
    """The manifest as a run of `recipe` would have recorded it."""
    path = run_dir / "manifest.json"
    data = json.loads(path.read_text())
    data["config"]["recipe"] = recipe
    path.write_text(json.dumps(data))


def test_a_registered_section_is_merged_rendered_and_drawn(tmp_path, fresh_registry):
    _run(tmp_path, {}, tags=True)
    _as_recipe(tmp_path, "easy_to_hard")  # a recipe with no section of its own, given one here
    seen = []

    def build(manifest):
        seen.append(manifest.config["recipe"])
        return {"my_section": {"acc": 0.5}, "rounds": "not mine"}  # a common key stays the report's

    register_report_section("easy_to_hard", build=build, markdown=lambda r: ["## Mine", f"acc {r['my_section']['acc']}"],
                            curves=lambda r: [("mine", {1: 0.5, 2: 0.25})])
    report = write_report(tmp_path)
    assert report["recipe"] == "easy_to_hard" and report["my_section"] == {"acc": 0.5}
    assert isinstance(report["rounds"], list) and len(seen) == 1
    assert "## Mine\nacc 0.5" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report.png").stat().st_size > 0


def test_a_recipe_without_a_section_gets_the_common_report(tmp_path):
    _run(tmp_path, {}, tags=True)
    report = build_report(tmp_path)
    assert report["recipe"] == "w2s_reasoning" and "mixes" not in report and "light_reasoner" not in report
    assert "## Supervision mixes" not in render_markdown(report)


def test_a_second_section_for_one_recipe_is_refused(fresh_registry):
    register_report_section("easy_to_hard", build=lambda m: {})
    with pytest.raises(ValueError, match="easy_to_hard.*registered twice"):
        register_report_section("easy_to_hard", build=lambda m: {"other": 1})


def test_the_built_in_recipes_register_their_sections_and_report_py_names_none():
    assert report_sections.report_section("supervision_mix") is not None
    assert report_sections.report_section("light_reasoner") is not None
    source = (Path(report_sections.__file__).parent / "report.py").read_text()
    assert not [name for name in RECIPE_SECTIONS if f'"{name}"' in source]


def test_a_train_stage_row_shows_its_steps_and_early_stoppings_pick():
    from w2s_ray.eval.report import _rate

    base = {"train_tokens_per_s": 5000.0, "samples_per_s": 80.0, "final_train_loss": 0.05}
    row = _rate({**base, "steps": 339, "best_step": 250})
    assert row.endswith("339 steps (kept step 250, lowest held-out loss)"), row
    assert _rate({**base, "steps": 147, "best_step": None}).endswith(", 147 steps")
    # runs recorded before steps were read: the row as it was
    assert _rate(base) == "train 5000 tokens/s, 80.0 samples/s, loss 0.050"
