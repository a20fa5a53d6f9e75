"""A scorer's config is typed (its options model, from __init__ or its own `Options`), checked when
the config loads with an error that names the field, the scorer and the option; and a scorer can be
named by import path `module:Class`, checked at load time too."""
from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from w2s_ray.config import ConfigError, RunConfig, load_config
from w2s_ray.score import Scorer, score_rows
from w2s_ray.score.base import get_scorer, options_model
from w2s_ray.score.stage import as_specs

BASE = {"name": "t", "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"}}


class TextLength(Scorer):
    """A user's scorer, not registered: named by import path."""

    columns = ("text_length",)

    class Options(BaseModel):  # its own model: a constraint the signature cannot say
        scale: int = Field(1, ge=1)

    def __init__(self, *, scale: int = 1):
        self.scale = scale

    def __call__(self, batch):
        return {"text_length": [self.scale * len(t or "") for t in batch["text"].tolist()]}


class NotAScorer:
    columns = ("x",)


def test_options_come_from_the_signature_typed():
    model = options_model(get_scorer("answer_check"))
    assert model.model_validate({"style": "math"}).style == "math"
    with pytest.raises(ValueError, match="style"):
        model.model_validate({"style": "latex"})
    with pytest.raises(ValueError, match="rel_tol"):
        options_model(get_scorer("step_check")).model_validate({"rel_tol": "tiny"})


@pytest.mark.parametrize("config, message", [
    ({"style": "latex"}, r"scorer 0 \('answer_check'\): option 'style': Input should be 'gsm8k', 'math' or 'auto'"),
    ({"styel": "math"}, r"scorer 0 \('answer_check'\): option 'styel': Extra inputs are not permitted"),
])
def test_a_bad_option_is_a_located_config_error(tmp_path, config, message):
    path = tmp_path / "run.yaml"
    path.write_text("strong: {name: s, model: m}\nweak: [{name: a, model: m}]\n"
                    f"eval: {{scorers: [{{name: answer_check, config: {config}}}]}}\n")
    with pytest.raises(ConfigError, match=rf"{path}: invalid config: field 'eval.scorers': .*{message}"):
        load_config(path)


def test_a_scorer_by_import_path_runs_and_its_options_are_checked():
    path = f"{__name__}:TextLength"
    config = RunConfig.model_validate({**BASE, "scorers": [{"name": "answer_check"},
                                                           {"name": path, "config": {"scale": 2}}]})
    assert config.scorers[1].scorer_class() is TextLength
    assert [r["text_length"] for r in score_rows([{"text": "abc"}, {"text": ""}], config.scorers[1:])] == [6, 0]
    with pytest.raises(ValueError, match=r"scorer 0 .*option 'scale': Input should be greater than or equal to 1"):
        as_specs([{"name": path, "config": {"scale": 0}}])


@pytest.mark.parametrize("name, message", [
    ("no_such_module_w2s:X", "cannot import 'no_such_module_w2s': ModuleNotFoundError"),
    (f"{__name__}:Missing", "no such attribute"),
    (f"{__name__}:NotAScorer", "is not a Scorer subclass"),
    (":X", "an import path is 'package.module:Class'"),
])
def test_a_bad_import_path_fails_at_config_load(name, message):
    with pytest.raises(ValueError, match=f"field 'scorers'.*{message}"):
        from w2s_ray.config import validate_config
        validate_config({**BASE, "scorers": [{"name": name}]}, "run.yaml")
