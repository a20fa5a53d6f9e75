"""docs/config.md is generated from the config models and must stay in sync with them."""
from __future__ import annotations

from pydantic import Field

from w2s_ray.config import RunConfig
from w2s_ray.config.base import Strict
from w2s_ray.config.docs import DOC_PATH, main, render


def test_docs_config_md_is_in_sync_with_the_models():
    assert DOC_PATH.read_text() == render(), "docs/config.md is out of date: run `make docs`"


def test_every_field_of_every_section_is_listed_with_its_default_and_comment():
    text = render()
    for section in ("`ray`", "`data`", "`weak[]`, `strong`", "`train`", "`train.lora`", "`loop`", "`stage2`",
                    "`serve`"):
        assert f"## {section}" in text
    assert "| `max_n` | int (>= 1) | `8` | Work one request may ask for; beyond: 400." in text
    assert "`best_of`) |" in text
    # a comment block above a field is its description too
    assert "The bearer token is read from this environment variable" in text
    assert '| `strong` | TeacherConfig | **required** |' in text and '| `weak` | list[TeacherConfig] | `[]` |' in text


class NewSection(Strict):
    """A recipe's own section, added the way a recipe folder's config.py adds them."""

    # How many wibbles per round: the comment above the field.
    wibbles: int = Field(default=3, ge=1)
    ratio: float = 0.5  # the comment on the line


class WithNewFields(RunConfig):
    new_knob: bool = False  # a field added to the run config
    light_reasoner: NewSection | None = None  # a new recipe section


def test_a_new_field_or_recipe_section_appears_without_editing_the_generator_and_breaks_the_sync():
    text = render(WithNewFields)
    assert "| `new_knob` | bool | `false` | a field added to the run config |" in text
    assert "## `light_reasoner`" in text and "A recipe's own section" in text
    assert "| `wibbles` | int (>= 1) | `3` | How many wibbles per round: the comment above the field. |" in text
    assert "| `ratio` | float | `0.5` | the comment on the line |" in text
    assert text != DOC_PATH.read_text()  # so the sync test above fails until `make docs` is run


def test_check_mode_fails_on_a_stale_file_and_passes_once_written(tmp_path, capsys):
    out = tmp_path / "config.md"
    out.write_text("# stale\n")
    assert main(["--check", "--out", str(out)]) == 1
    assert "make docs" in capsys.readouterr().err
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0
