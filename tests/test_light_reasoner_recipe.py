"""The light_reasoner recipe end to end on tiny models (one shared tokenizer, two differently trained
models): killed in its last training stage, resumed, then resumed again with nothing left to do; the
report sets LightReasoner and rejection-sampling SFT side by side.

Nine stages (four generations, two Ray Train runs) take ~1.5-4 min on 2 cores, past what `make test`
has left, so it runs in `make test-long`; tests/test_light_reasoner.py covers the parts in `make test`."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import long_test
from tests.tiny_run import write_config
from w2s_ray.config import load_config
from w2s_ray.run.manifest import Manifest

pytestmark = [pytest.mark.slow, long_test]

STAGES = ["light_reasoner/sample", "baselines/strong_base/eval", "light_reasoner/contrast", "light_reasoner/select",
          "light_reasoner/train", "light_reasoner/eval", "rs_sft/select", "rs_sft/train", "rs_sft/eval"]


class Killed(RuntimeError):
    """The injected fault: the run dies as its last training stage starts."""


def _config(tmp_path, tiny_models):
    amateur, expert = tiny_models
    path = write_config(tmp_path / "run.yaml", tmp_path / "run", (amateur, expert))
    raw = yaml.safe_load(path.read_text())
    raw.pop("loop")
    raw["recipe"] = "light_reasoner"
    raw["light_reasoner"] = {"n_questions": 12, "max_tokens": 24, "beta": 0.4, "lr": 1e-3, "contrast_batch_size": 8}
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_light_reasoner_runs_resumes_and_reports_both_methods(tmp_path, tiny_models, ray_local, monkeypatch):
    import w2s_ray.recipes.light_reasoner.recipe as recipe
    from w2s_ray.run.driver import run
    from w2s_ray.eval.report import write_report

    config = _config(tmp_path, tiny_models)
    real_train = recipe.train

    def dies_at_rs_sft(ctx, key, *args, **kwargs):
        if key == "rs_sft/train":
            raise Killed(key)
        return real_train(ctx, key, *args, **kwargs)

    monkeypatch.setattr(recipe, "train", dies_at_rs_sft)
    with pytest.raises(Killed):
        run(config)
    monkeypatch.setattr(recipe, "train", real_train)
    first = Manifest.load(config.run_dir)
    assert first.stages() == STAGES[:7]
    finished = {key: first.record(key)["finished"] for key in first.stages()}

    manifest = run(config)  # resumed: what finished is verified and kept, the rest runs
    assert manifest.stages() == STAGES
    assert {key: manifest.record(key)["finished"] for key in finished} == finished
    again = run(config)  # nothing left: every stage comes back from its record
    assert {key: again.record(key)["finished"] for key in STAGES} == \
        {key: manifest.record(key)["finished"] for key in STAGES}

    contrast = manifest.record("light_reasoner/contrast")
    steps = manifest.record("light_reasoner/select")
    # every step but each solution's first (the authors' steps from t = 1) is a candidate
    assert contrast["rows_out"] == 12 and steps["rows_in"] == contrast["metrics"]["steps"] - 12 > steps["rows_out"] > 0
    # the solutions the expert ended with EOS have that step too (eos_step, the authors' default)
    assert 0 < contrast["metrics"]["eos_steps"] <= 12
    train = manifest.record("light_reasoner/train")
    assert train["metrics"]["supervised_tokens"] == steps["rows_out"]
    lora = json.loads((tmp_path / "run" / "light_reasoner" / "train" / "model" / "train_config.json").read_text())
    assert lora["config"]["lora"]["r"] == 8 and lora["config"]["lora"]["target_modules"] == ["q_proj", "v_proj"]

    report = write_report(config.run_dir)
    assert report["base"]["acc"] is not None
    lr, rs = report["light_reasoner"], report["rs_sft"]
    assert lr["tokens_trained"] == steps["rows_out"] and lr["acc"] is not None and rs["acc"] is not None
    kept = manifest.record("rs_sft/select")["rows_out"]
    assert rs["training_rows"] == kept and rs["tokens_trained"] > kept  # every completion token, plus EOS
    assert lr["problems_sampled"] == rs["problems_sampled"] == 12
    assert lr["tokens_generated"] == rs["tokens_generated"] > 0
    assert set(lr["stage_seconds"]) == {"light_reasoner/sample", "light_reasoner/contrast", "light_reasoner/select",
                                        "light_reasoner/train", "light_reasoner/eval"}
    assert report["comparison"] is None or "meets_target" in report["comparison"]
    assert "LightReasoner vs rejection-sampling SFT" in (tmp_path / "run" / "report.md").read_text()
