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
    with pytest.raises(ConfigError, match="field 'strong': Field required"):
        load_config(_write(tmp_path, "name: x\n"))
    with pytest.raises(ConfigError, match="w2s_reasoning recipe needs at least one weak teacher"):
        load_config(_write(tmp_path, "strong: {name: s, model: m}\n"))  # easy_to_hard needs none
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
    assert (config.weak or config.recipe != "w2s_reasoning") and config.strong.role == "strong"


def test_stage2_thresholds_must_be_ordered(tmp_path):
    raw = yaml.safe_load(Path("configs/demo.yaml").read_text())
    raw["stage2"] = {"min_confidence": 0.9, "flip_confidence": 0.8}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="flip_confidence"):
        load_config(tmp_path / "c.yaml")


def test_answer_markers_are_a_validated_run_setting_with_builtins(tmp_path):
    from w2s_ray.text.answers import DEFAULT_MARKERS

    base = {"weak": [{"name": "w", "model": "m"}], "strong": {"name": "s", "model": "m"}}
    default = RunConfig.model_validate(base)
    assert tuple(default.answer_markers) == DEFAULT_MARKERS and "^a:" in default.answer_markers
    custom = RunConfig.model_validate({**base, "answer_markers": ["RESULT:"]})
    assert custom.config_hash() != default.config_hash()
    with pytest.raises(ValueError, match="marker"):
        RunConfig.model_validate({**base, "answer_markers": []})


BASE_YAML = "strong: {name: s, model: m}\nweak: [{name: a, model: m}]\n"


@pytest.mark.parametrize("extra, field", [
    ("loop: {rounds: '3'}\n", "loop.rounds"),          # a string is not a number
    ("loop: {rounds: true}\n", "loop.rounds"),         # nor is a boolean
    ("ray: {num_cpus: 0}\n", "ray.num_cpus"),
    ("ray: {num_cpus: -2}\n", "ray.num_cpus"),
    ("strong: {name: s, model: m, temperature: .inf}\n", "strong.temperature"),
    ("train: {lr: .nan}\n", "train.lr"),
    ("scorers: [{name: answer_check, concurrency: '2'}]\n", "scorers.0.concurrency"),
    ("scorers: [{name: no_such_scorer}]\n", "scorers"),
])
def test_strict_values_are_refused_naming_the_field(tmp_path, extra, field):
    text = BASE_YAML.replace("strong: {name: s, model: m}\n", "") if extra.startswith("strong") else BASE_YAML
    with pytest.raises(ConfigError, match=f"field '{field}") as err:
        load_config(_write(tmp_path, text + extra))
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_unknown_scorer_names_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown scorer 'no_such_scorer'.*answer_check"):
        load_config(_write(tmp_path, BASE_YAML + "scorers: [{name: no_such_scorer}]\n"))


def test_duplicate_yaml_keys_are_refused_with_their_line(tmp_path):
    with pytest.raises(ConfigError, match=r"run.yaml:5: .*duplicate key 'rounds' \(first on line 4\)"):
        load_config(_write(tmp_path, BASE_YAML + "loop:\n  rounds: 1\n  rounds: 3\n"))


def test_yaml_alias_bomb_is_refused_fast(tmp_path):
    import time

    # Nine levels of nine aliases: 9^9 values once expanded, inside a field that takes any mapping
    # (a scorer's config), so validation alone would pass and hashing the config would expand it.
    levels = ["    l0: &l0 [x, x, x, x, x, x, x, x, x]"] + [
        f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb = "scorers:\n- name: answer_check\n  config:\n" + "\n".join(levels) + "\n"
    assert len(bomb) < 1000
    start = time.thread_time()  # CPU, not wall clock: an expanded bomb costs minutes of it
    with pytest.raises(ConfigError, match="alias"):
        load_config(_write(tmp_path, BASE_YAML + bomb))  # expanded, config_hash() would never return
    assert time.thread_time() - start < 2


@pytest.mark.parametrize("content, match", [(None, "cannot read"), (b"name: \xff\xfe\n", "not UTF-8")])
def test_missing_or_undecodable_config_is_a_config_error(tmp_path, content, match):
    path = tmp_path / "run.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    config = load_config(_write(tmp_path, BASE_YAML + "train: {lr: 1e-4}\nstage2: {lr: 5E-6}\n"))
    assert config.train.lr == 1e-4 and config.stage2.lr == 5e-6


def test_stages_with_their_own_epochs_do_not_inherit_the_runs_max_steps(tmp_path):
    """train.max_steps sets the loop's SFT length; Stage II's DPO, the PRM and LightReasoner's KL
    stages say their length in epochs, which a step count inherited from the run would override."""
    base = load_config(_write(tmp_path, BASE_YAML + "train: {max_steps: 339, epochs: 3}\nstage2: {epochs: 2}\n"))
    assert base.train.max_steps == 339
    assert (base.stage2.train_config(base.train).max_steps, base.stage2.train_config(base.train).epochs) == (None, 2)
    lr = load_config(_write(tmp_path, BASE_YAML + "recipe: light_reasoner\ntrain: {max_steps: 339}\n"
                                                   "light_reasoner: {rs_sft_epochs: 1}\n"))
    assert lr.light_reasoner.kl_train_config(lr.train).max_steps is None
    assert lr.light_reasoner.rs_sft_train_config(lr.train).max_steps is None
    e2h = load_config(_write(tmp_path, "strong: {name: s, model: m}\nrecipe: easy_to_hard\ntrain: {max_steps: 339}\n"
                                        "easy_to_hard: {prm_epochs: 2}\n"))
    assert e2h.easy_to_hard.prm_train_config(e2h.train).max_steps is None
    # unset, the field hashes as absent (its Added value)
    assert load_config(_write(tmp_path, BASE_YAML)).config_hash() == \
        load_config(_write(tmp_path, BASE_YAML + "train: {max_steps: null}\n")).config_hash()


@pytest.mark.parametrize("steps", [
    "recipe: easy_to_hard\neasy_to_hard: {step_sep: blank_line}\n",
    "recipe: easy_to_hard\nscorers: [{name: answer_check}, {name: step_check, config: {step_sep: blank_line}}]\n",
])
def test_paragraph_steps_with_a_blank_line_stop_are_refused_at_load(tmp_path, steps):
    # the sampler's default stop "\n\n" would end every sample after its first paragraph step
    with pytest.raises(ConfigError, match=r"strong\.stop .*first blank line"):
        load_config(_write(tmp_path, "strong: {name: s, model: m}\n" + steps))
    kept = load_config(_write(tmp_path, "strong: {name: s, model: m, stop: ['Question:']}\n" + steps))
    assert kept.strong.stop == ["Question:"]
    # line steps keep the default stop
    line_steps = load_config(_write(tmp_path, "strong: {name: s, model: m}\nrecipe: easy_to_hard\n"))
    assert line_steps.strong.stop == ["\n\n", "Question:"]
