"""Each stage names its own scorers: a teacher's `scorers` for the stages it generates in,
`eval.scorers` for evaluations, else the run's `scorers`; unset, they are not in the config hash."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from w2s_ray.config import ConfigError, RunConfig, load_config
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import write_stage
from w2s_ray.stages import steps

# The shipped configs' hashes, pinned: a run directory resumes only under its own hash, so a change to one
# is made on purpose (a changed method must not resume into a run of the previous one) or not at all.
SHIPPED_HASHES = {"demo-smollm2": "b2e5d4df5ac8350f", "demo-w2s": "1270dd7e8d5cece7", "demo": "f0f6901e488a2b95",
                  "gpu-gsm8k-w2s": "71b3a2cc67d3ab77", "gpu-math-w2s": "ba355d799c3a1f77"}  # GPU configs: sized for 2 GPUs
BASE = {"name": "t", "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"}}


@pytest.mark.parametrize("name", sorted(SHIPPED_HASHES))
def test_configs_without_stage_scorers_keep_their_hash(name):
    assert load_config(f"configs/{name}.yaml").config_hash() == SHIPPED_HASHES[name]


def test_stage_scorers_are_checked_and_hashed():
    base = RunConfig.model_validate(BASE)
    named = RunConfig.model_validate({**BASE, "eval": {"scorers": [{"name": "answer_check"}]}})
    assert named.config_hash() != base.config_hash()
    with pytest.raises(ValueError, match="correct"):  # accuracy needs it
        RunConfig.model_validate({**BASE, "eval": {"scorers": [{"name": "step_check"}]}})
    with pytest.raises(ValueError, match="no_such_scorer"):
        RunConfig.model_validate({**BASE, "weak": [{"name": "wa", "model": "m",
                                                    "scorers": [{"name": "no_such_scorer"}]}]})


def test_config_file_error_names_the_stage_scorers_field(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("strong: {name: s, model: m}\nweak: [{name: a, model: m, scorers: [{name: nope}]}]\n")
    with pytest.raises(ConfigError, match="weak.0.scorers"):
        load_config(path)


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    """A run context whose generate stage is a stand-in, recording which scorers each stage ran."""
    config = RunConfig.model_validate({**BASE, "run_dir": str(tmp_path),
                                       "scorers": [{"name": "answer_check"}, {"name": "step_check"}],
                                       "eval": {"scorers": [{"name": "answer_check"}]},
                                       "weak": [{"name": "wa", "model": "m", "scorers": [{"name": "majority_vote"}]}]})
    ran = {}
    gen = SimpleNamespace(engine="stand-in", rows=1, seconds=1.0, startup_seconds=0.0, generated_tokens=1,
                          tokens_per_s=1.0)
    monkeypatch.setattr(steps, "generate", lambda problems, teacher, *a, **kw: (teacher.name, gen))

    def score_dataset(ds, specs):  # ds: the stand-in generate's "dataset", the teacher's name
        ran[ds] = [spec.name for spec in specs]
        return SimpleNamespace(iter_rows=lambda: iter([{"problem_id": "p", "sample_index": 0, "model": ds}]))

    monkeypatch.setattr(steps, "score_dataset", score_dataset)
    # The stand-in's rows go to one data.parquet (the real stage has Ray Data's workers write them)
    monkeypatch.setattr(steps, "write_dataset", lambda stage_dir, ds, **kw: write_stage(stage_dir, list(ds.iter_rows())))
    context = RunContext(config, Manifest.create(tmp_path, {}, "h"), None, {}, {})
    context.register_model("m", "/models/m")
    return context, ran


def test_each_stage_runs_its_own_scorers(ctx):
    context, ran = ctx
    cfg = context.config
    steps.generate_and_score(context, "weak/wa/generate", cfg.weak[0], "m", [{"id": "p"}])
    steps.generate_and_score(context, "strong/generate", cfg.strong, "m", [{"id": "p"}])
    steps.generate_and_score(context, "strong/eval", context.eval_teacher(cfg.strong, "strong-eval"), "m",
                             [{"id": "p"}])
    assert ran == {"wa": ["majority_vote"], "s": ["answer_check", "step_check"], "strong-eval": ["answer_check"]}
