"""The supervision_mix recipe: its config section, and one tiny run end to end in which a fault in
the second mix's training stops the run, a resume redoes only what did not finish, and a third
run finds every stage done (nothing generates or trains)."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import long_test
from tests.tiny_run import write_config
from w2s_ray.config import ConfigError, RunConfig, load_config

BASE = {"name": "t", "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"}}
MIX = {"mixes": [{"name": "hard", "parts": [{"kind": "hard"}]}]}
SHIPPED_HASHES = {"demo": "f0f6901e488a2b95", "demo-w2s": "1270dd7e8d5cece7"}  # as tests/test_stage_scorers.py


def test_the_section_belongs_to_its_recipe_and_the_recipe_needs_it():
    with pytest.raises(ValueError, match="'supervision_mix' belongs to recipe 'supervision_mix'"):
        RunConfig.model_validate({**BASE, "supervision_mix": MIX})  # recipe: w2s_reasoning (the default)
    with pytest.raises(ValueError, match="needs its section 'supervision_mix'"):
        RunConfig.model_validate({**BASE, "recipe": "supervision_mix"})
    with pytest.raises(ValueError, match="belongs to recipe 'w2s_reasoning'"):
        RunConfig.model_validate({**BASE, "recipe": "supervision_mix", "supervision_mix": MIX, "stage2": {}})
    assert RunConfig.model_validate({**BASE, "recipe": "supervision_mix", "supervision_mix": MIX}).supervision_mix


def test_mix_settings_are_checked_where_they_are(tmp_path):
    path = tmp_path / "run.yaml"
    raw = {**BASE, "recipe": "supervision_mix", "supervision_mix": {"mixes": [
        {"name": "m", "parts": [{"kind": "hard", "outcome_error": 1.5}]}]}}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="supervision_mix.mixes.0.parts.0.outcome_error"):
        load_config(path)
    files = {**raw, "data": {"source": "files", "train": "a.jsonl", "test": "b.jsonl"},
             "supervision_mix": {"mixes": [{"name": "m", "parts": [{"kind": "hard", "outcome_error": 0.5}]}]}}
    with pytest.raises(ValueError, match="mixes.0.parts.0: error injection and rephrasing need data.source 'world'"):
        RunConfig.model_validate(files)
    with pytest.raises(ValueError, match="repeated"):
        RunConfig.model_validate({**raw, "supervision_mix": {"mixes": [MIX["mixes"][0]] * 2}})
    with pytest.raises(ValueError, match=r"findings.0: \['nope'\] not among the mixes \['hard'\]"):
        RunConfig.model_validate({**raw, "supervision_mix": {**MIX, "findings": [
            {"claim": "c", "better": "hard", "worse": "nope"}]}})


@pytest.mark.parametrize("name", sorted(SHIPPED_HASHES))
def test_existing_configs_keep_their_hash(name):
    assert load_config(f"configs/{name}.yaml").config_hash() == SHIPPED_HASHES[name]


def test_demo_mix_config_pairs_the_findings():
    config = load_config("configs/demo-mix.yaml")
    assert config.recipe == "supervision_mix" and config.strong.model == "world-student"
    parts = {m.name: [(p.kind, p.outcome_error, p.error_step) for p in m.parts] for m in config.supervision_mix.mixes}
    assert parts["hard-50-final"][0][:2] == parts["hard-50-early"][0][:2]  # equal outcome error, other steps
    assert parts["hard-50+subtask"][0] == parts["hard-50+rephrased"][0]
    assert [(f.better, f.worse) for f in config.supervision_mix.findings] == [
        ("hard-90-final", "subtask-clean"), ("hard-50-final", "hard-50-early"), ("hard-50+subtask", "hard-50+rephrased")]


class Fault(RuntimeError):
    pass


@long_test  # 139-244 s on 2 cores: over make test's share
def test_tiny_run_every_stage_resumes_and_report_has_the_mix(tmp_path, tiny_models, ray_local, monkeypatch):
    from w2s_ray.run.driver import run
    from w2s_ray.eval.compare import compare_rows
    from w2s_ray.eval.report import build_report, write_report
    from w2s_ray.run.manifest import Manifest
    from w2s_ray.stages import steps

    path = write_config(tmp_path / "run.yaml", tmp_path / "run", tiny_models)
    raw = yaml.safe_load(path.read_text())
    del raw["loop"]
    raw["recipe"] = "supervision_mix"
    # One mix of every kind (each extraction stage runs): 6 hard at 50% early errors, their subtasks,
    # their rewordings. Its training dies once (the fault), then the run resumes.
    raw["supervision_mix"] = {"hard_levels": [4, 5], "n_hard": 6, "subtask_steps": 2, "evaluate_base": False,
                              "mixes": [{"name": "all", "parts": [
                                  {"kind": "hard", "outcome_error": 0.5, "error_step": "early"},
                                  {"kind": "subtask"}, {"kind": "rephrased"}]}],
                              "findings": [{"claim": "a mix against itself", "better": "all", "worse": "all"}]}
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)

    def killed(*_args, **_kwargs):
        raise Fault("killed in training")

    real_train = steps.train_objective
    monkeypatch.setattr(steps, "train_objective", killed)
    with pytest.raises(Fault):
        run(config)
    first = Manifest.load(config.run_dir)
    done = first.stages()
    assert done == ["supervision/hard", "supervision/subtask", "supervision/rephrased", "mix/all/errors"]
    before = {key: first.record(key)["finished"] for key in done}
    [measured] = build_report(config.run_dir)["mixes"]  # measured before training, reported before it too
    assert measured["outcome_error"] == 3 / 18 and measured["acc"] is None

    monkeypatch.setattr(steps, "train_objective", real_train)
    run(config)  # resume: what finished is kept as it was, the rest runs
    second = Manifest.load(config.run_dir)
    assert {key: second.record(key)["finished"] for key in done} == before
    assert second.stages() == done + ["mix/all/train", "mix/all/eval"]

    def nothing_may_run(*_args, **_kwargs):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(steps, "train_objective", nothing_may_run)
    monkeypatch.setattr(steps, "generate", nothing_may_run)
    run(config)  # every stage finished: each resumes from its record
    assert Manifest.load(config.run_dir).stages() == second.stages()

    report = write_report(config.run_dir)
    [mix] = json.loads((tmp_path / "run" / "report.json").read_text())["mixes"]
    assert mix == json.loads(json.dumps(report["mixes"][0]))
    assert mix["name"] == "all" and mix["n_rows"] == 18 and mix["outcome_error"] == 3 / 18
    assert mix["parts"]["hard"]["injected"]["n_corrupted"] == 3 and mix["parts"]["subtask"]["step_error"] == 0
    # the 3 corrupted hard solutions are wrong in every step (early errors propagate)
    hard = mix["parts"]["hard"]
    assert hard["n_wrong_steps"] > 3 and mix["step_error"] == hard["n_wrong_steps"] / mix["n_steps"]
    assert 0 <= mix["acc"] <= 1 and set(mix["acc_by_level"]) == {"1", "2", "3", "4", "5"}
    [finding] = report["findings"]
    assert finding["verdict"] == "not distinguishable" and finding["diff"] == 0 and finding["holds"] is False
    assert finding["ci95"] == [0, 0] and finding["n_test"] == report["mixes"][0]["n"]
    assert finding["sets"]["all"]["outcome_error"] == mix["outcome_error"]
    markdown = (tmp_path / "run" / "report.md").read_text()
    [row] = compare_rows(config.run_dir)  # `w2s compare`: the mix, named with its set's errors
    assert row["model"] == f"mix all (outcome err 17%, step err {100 * mix['step_error']:.0f}%)"
    assert row["acc"] == mix["acc"]
    assert "## Supervision mixes" in markdown and "| all>all | a mix against itself | +0.0 [+0.0, +0.0] |" in markdown


def test_a_finding_names_its_two_mixes_whether_measured_or_not():
    """The claim's mix names ride beside paired_finding's own `better` / `worse` arguments (the per-problem
    values): passed as keywords of the same names they raised a TypeError, and demo-mix's report failed."""
    from types import SimpleNamespace

    from w2s_ray.recipes.supervision_mix.report import findings

    manifest = SimpleNamespace(config={"supervision_mix": {"findings": [
        {"claim": "hard beats subtask", "better": "hard", "worse": "subtask"}]}})
    mixes = [{"name": "hard", "eval_stage": None}, {"name": "subtask", "eval_stage": None}]
    [entry] = findings(manifest, mixes)
    assert entry["id"] == "hard>subtask" and entry["verdict"] == "not run"
    assert (entry["better_mix"], entry["worse_mix"]) == ("hard", "subtask")
