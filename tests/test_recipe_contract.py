"""The Recipe contract (recipes/base.py): a recipe defined here, in a test module, registers, runs a
stage, and shows in the report and the plan, with no edit to a shared file; the recipe folders are
found by existing; and no module outside recipes/ names a recipe."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import w2s_ray
from tests.test_stage_tags import _run
from w2s_ray.eval.report import build_report, render_markdown, write_report
from w2s_ray.recipes import base
from w2s_ray.recipes.base import Recipe, RecipeConfig, RecipeReport, recipe, recipe_names, register_recipe

ROOT = Path(w2s_ray.__file__).parent
TOY = "toy_recipe_of_a_test"


def toy_run(ctx) -> None:
    """One tiny stage through the manifest, tagged as a student's evaluation."""
    from w2s_ray.run.manifest import StageResult, run_stage
    from w2s_ray.run.stage_io import write_stage
    from w2s_ray.run.stage_tags import Tag

    test = ctx.rows("test")[:4]
    rows = [{"problem_id": p["id"], "level": p["level"], "model": "toy", "answer": p["gold"], "gold": p["gold"],
             "correct": i % 2 == 0} for i, p in enumerate(test)]

    def body() -> StageResult:
        out = {"rows": write_stage(ctx.stage_dir("toy/eval"), rows)}
        return StageResult(outputs=out, rows_in=len(rows), rows_out=len(rows),
                           metrics={"accuracy": {"n": 4, "acc": 0.5, "acc_by_level": {"1": 0.5}}})

    run_stage(ctx.manifest, "toy/eval", body, tag=Tag("student_eval", "toy"))


def toy_asks(config, asks) -> list:
    return [asks.generate("toy sample", config.strong.model_copy(update={"n": 3}))]


TOY_RECIPE = Recipe(
    TOY, toy_run, RecipeConfig(plan_asks=toy_asks),
    RecipeReport(build=lambda manifest, common: {"toy": {"students": sorted(common["students"])}},
                 markdown=lambda report: ["", f"## Toy: {report['toy']['students']}"],
                 rows=lambda report: [("toy student", report["students"]["toy"])],
                 curves=lambda report: [("toy", report["students"]["toy"]["acc_by_level"])]))


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(base, "_REGISTERED", dict(base._REGISTERED))
    return register_recipe(TOY_RECIPE)


def _toy_config(tmp_path):
    from w2s_ray.config import validate_config

    # a built-in model name: resolved by the stage that builds it, which this recipe has not
    return validate_config({"recipe": TOY, "run_dir": str(tmp_path / "run"), "strong": {"name": "s", "model": "weak-a"},
                            "data": {"n_weak_train": 20, "n_strong_train": 10, "n_test_per_level": 2}}, "toy.yaml")


def test_a_recipe_defined_in_a_test_is_in_the_config_and_the_plan(tmp_path, toy):
    from w2s_ray.raycluster.plan import stage_asks

    assert TOY in recipe_names() and recipe(TOY) is TOY_RECIPE
    config = _toy_config(tmp_path)
    asks = {a.stage: a for a in stage_asks(config, "cpu", 2)}
    assert "toy sample" in asks and "train (SFT)" in asks  # its own, beside every recipe's


@pytest.mark.slow
def test_a_recipe_defined_in_a_test_runs_and_reports(tmp_path, toy, ray_local):
    from w2s_ray.run.driver import run

    config = _toy_config(tmp_path)
    manifest = run(config)
    assert manifest.stages() == ["toy/eval"]
    report = write_report(config.run_dir)
    assert report["recipe"] == TOY and report["toy"] == {"students": ["toy"]}
    assert report["students"]["toy"]["acc"] == 0.5
    text = (Path(config.run_dir) / "report.md").read_text()
    assert "| toy student | 50.0 |" in text and "## Toy: ['toy']" in text


def test_an_unknown_recipe_is_a_config_error_listing_the_known_ones():
    from w2s_ray.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match="unknown recipe 'nope'; known: .*light_reasoner.*w2s_reasoning"):
        validate_config({"recipe": "nope", "strong": {"name": "s", "model": "m"}}, "x.yaml")
    with pytest.raises(KeyError, match="no recipe 'nope'"):
        recipe("nope")


def test_a_registered_recipe_cannot_take_a_folders_name_or_bring_a_section():
    with pytest.raises(ValueError, match="folder"):
        register_recipe(Recipe("w2s_reasoning", toy_run))
    with pytest.raises(ValueError, match="config sections need a recipe folder"):
        register_recipe(Recipe("other_toy", toy_run, RecipeConfig(sections={"x": object})))


def test_every_folder_is_a_recipe_with_a_run_and_its_sections_are_run_config_fields():
    from w2s_ray.config import RunConfig

    folders = sorted(p.name for p in (ROOT / "recipes").iterdir() if (p / "recipe.py").is_file())
    assert folders == base.folder_names() and len(folders) >= 4
    for name in folders:
        assert callable(recipe(name).run)
        for section in recipe(name).config.sections:
            assert section in RunConfig.model_fields


def test_a_recipe_without_a_section_gets_the_common_report(tmp_path):
    _run(tmp_path, {}, tags=True)
    report = build_report(tmp_path)
    assert report["recipe"] == "w2s_reasoning" and "mixes" not in report and "light_reasoner" not in report
    assert "## Supervision mixes" not in render_markdown(report)
    assert report["stage2"]["acc"] == report["students"]["stage2"]["acc"]  # w2s_reasoning's own part


def test_no_module_outside_recipes_names_a_recipe():
    names = recipe_names()
    pattern = re.compile(r"""["'](%s)["']""" % "|".join(map(re.escape, names)))
    named = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "recipes":
            continue
        found = pattern.findall(path.read_text())
        if found:
            named[str(rel)] = sorted(set(found))
    # The config's default recipe is the one exception: a config that names none runs it.
    assert named == {"config/run_config.py": ["w2s_reasoning"]}, named


def test_a_train_stage_row_shows_its_steps_and_early_stoppings_pick():
    from w2s_ray.eval.report import _rate

    base = {"train_tokens_per_s": 5000.0, "samples_per_s": 80.0, "final_train_loss": 0.05}
    row = _rate({**base, "steps": 339, "best_step": 250})
    assert row.endswith("339 steps (kept step 250, lowest held-out loss)"), row
    assert _rate({**base, "steps": 147, "best_step": None}).endswith(", 147 steps")
    # runs recorded before steps were read: the row as it was
    assert _rate(base) == "train 5000 tokens/s, 80.0 samples/s, loss 0.050"
