from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from w2s_ray.config import ConfigError, RunConfig, load_config


def _write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_demo_config_loads_and_hashes_stably():
    a = load_config("configs/demo.yaml")
    b = load_config("configs/demo.yaml")
    assert a.config_hash() == b.config_hash()
    assert [t.name for t in a.weak] == ["weak-b"] and a.strong.role == "strong"
    assert a.strong.model == "world-student" and a.train.early_stopping is not None


@pytest.mark.parametrize("name", ["demo", "demo-w2s", "demo-smollm2", "gpu-gsm8k-w2s", "gpu-math-w2s"])
def test_every_shipped_config_loads(name):
    assert load_config(f"configs/{name}.yaml").weak


def test_wrong_type_names_the_field_and_the_file(tmp_path):
    path = _write(tmp_path, "strong: {name: s, model: m}\nweak:\n  - name: a\n    model: m\n    temperature: hot\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "field 'weak.0.temperature'" in str(err.value)


def test_unknown_key_is_an_error_not_a_silent_default(tmp_path):
    path = _write(tmp_path, "strong: {name: s, model: m}\nweak:\n  - name: a\n    model: m\n    temprature: 0.5\n")
    with pytest.raises(ConfigError, match="weak.0.temprature"):
        load_config(path)


def test_missing_models_and_duplicate_names(tmp_path):
    with pytest.raises(ConfigError, match="field 'weak': Field required") as err:
        load_config(_write(tmp_path, "name: x\n"))
    assert "field 'strong'" in str(err.value)
    with pytest.raises(ConfigError, match="unique"):
        load_config(_write(tmp_path, "strong: {name: s, model: m}\nweak:\n  - {name: a, model: m}\n  - {name: a, model: n}\n"))


def test_files_source_needs_its_paths_and_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="needs train and test"):
        load_config(_write(tmp_path, "data: {source: files}\nstrong: {name: s, model: m}\nweak: [{name: a, model: m}]\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "teachers: [\n"))


def test_config_hash_ignores_where_the_run_lives_but_not_what_it_computes():
    a = load_config("configs/demo.yaml")
    moved = a.model_copy(update={"run_dir": "elsewhere", "cache_dir": "/tmp/c"})
    assert moved.config_hash() == a.config_hash()
    changed = a.model_copy(update={"loop": a.loop.model_copy(update={"rounds": 5})})
    assert changed.config_hash() != a.config_hash()


@pytest.mark.parametrize("path", sorted(str(p) for p in Path("configs").glob("*.yaml")))
def test_every_shipped_config_validates(path):
    config = load_config(path)
    assert config.weak and config.strong.role == "strong"


def test_stage2_thresholds_must_be_ordered(tmp_path):
    raw = yaml.safe_load(Path("configs/demo.yaml").read_text())
    raw["stage2"] = {"min_confidence": 0.9, "flip_confidence": 0.8}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="flip_confidence"):
        load_config(tmp_path / "c.yaml")


def test_answer_markers_are_a_validated_run_setting_with_builtins(tmp_path):
    from w2s_ray.score.answers import DEFAULT_MARKERS

    base = {"weak": [{"name": "w", "model": "m"}], "strong": {"name": "s", "model": "m"}}
    default = RunConfig.model_validate(base)
    assert tuple(default.answer_markers) == DEFAULT_MARKERS and "^a:" in default.answer_markers
    custom = RunConfig.model_validate({**base, "answer_markers": ["RESULT:"]})
    assert custom.config_hash() != default.config_hash()
    with pytest.raises(ValueError, match="marker"):
        RunConfig.model_validate({**base, "answer_markers": []})
