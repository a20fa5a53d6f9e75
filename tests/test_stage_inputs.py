"""A stage's inputs are derived from the stages it reads: a selection gets the rows of the stages it
declares and nothing else, a trained model passed as its stage is an input by its checkpoint hash,
and the derived inputs are the ones recipes wrote by hand before (old run directories resume)."""
from __future__ import annotations

import pytest

from w2s_ray.config import RunConfig
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import Manifest, StageInputsChangedError, StageResult, inputs_from, run_stage
from w2s_ray.run.stage_io import write_stage
from w2s_ray.select import Selection
from w2s_ray.stages.steps import generate_and_score, select


def _context(tmp_path) -> RunContext:
    config = RunConfig.model_validate({
        "run_dir": str(tmp_path / "run"), "weak": [{"name": "w", "model": "m"}], "strong": {"name": "s", "model": "m"}})
    manifest = Manifest.create(config.run_dir, config.model_dump(mode="json"), config.config_hash())
    return RunContext(config, manifest, "cpu", {}, {"data_hash": "d"})


def _rows_stage(ctx: RunContext, key: str, xs: list[int]) -> StageResult:
    rows = [{"problem_id": f"p{x}", "source_model": key, "x": x} for x in xs]
    return run_stage(ctx.manifest, key, lambda: StageResult(outputs={"rows": write_stage(ctx.stage_dir(key), rows)}))


def _keep_all(rows, *names) -> Selection:
    kept = rows.joined(names)
    return Selection(kept, n_in=len(kept), kept=len(kept), dropped={})


def test_a_selection_reads_the_rows_of_the_stages_it_declares_and_records_their_hashes(tmp_path):
    ctx = _context(tmp_path)
    a = _rows_stage(ctx, "a", [1])
    b = _rows_stage(ctx, "b", [2, 3])
    result = select(ctx, "sel", lambda rows: _keep_all(rows, "b", "a"), upstream={"a": a, "b": b},
                    settings={"seed": "7"})
    assert result.rows_out == 3
    assert ctx.manifest.record("sel")["inputs"] == {"a": a.sha256(), "b": b.sha256(), "seed": "7"}
    from w2s_ray.stages.steps import stage_rows

    assert sorted(r["x"] for r in stage_rows(result)) == [1, 2, 3]


def test_a_selection_cannot_read_a_stage_it_did_not_declare(tmp_path):
    ctx = _context(tmp_path)
    a = _rows_stage(ctx, "a", [1])
    with pytest.raises(KeyError, match=r"'b' is not an upstream stage of this selection; it reads \['a'\]"):
        select(ctx, "sel", lambda rows: _keep_all(rows, "a", "b"), upstream={"a": a})
    assert not ctx.manifest.is_complete("sel")


def test_a_changed_upstream_stage_is_seen_and_a_resumed_selection_reads_nothing(tmp_path):
    ctx = _context(tmp_path)
    a = _rows_stage(ctx, "a", [1])
    select(ctx, "sel", lambda rows: _keep_all(rows, "a"), upstream={"a": a})

    def must_not_run(rows):
        raise AssertionError("a complete selection ran again")

    assert select(ctx, "sel", must_not_run, upstream={"a": a}).resumed
    other = _rows_stage(ctx, "a2", [5])
    with pytest.raises(StageInputsChangedError, match=r"\['a'\]"):
        select(ctx, "sel", must_not_run, upstream={"a": other})


def test_a_trained_model_given_as_its_stage_is_an_input_by_path_and_checkpoint_hash_as_before(tmp_path):
    ctx = _context(tmp_path)
    model_dir = ctx.stage_dir("train") / "model"
    model_dir.mkdir(parents=True)
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(model_dir / "model.safetensors"))
    from w2s_ray.run.stage_io import describe_checkpoint

    trained = run_stage(ctx.manifest, "train", lambda: StageResult(outputs={"model": describe_checkpoint(model_dir)}))
    samples = _rows_stage(ctx, "samples", [1])
    # What recipes wrote by hand before inputs were derived: an old run's record must still match.
    ctx.manifest.complete("eval", inputs={"model": str(trained.output("model")["path"]),
                                          "checkpoint": trained.output("model")["sha256"],
                                          "samples": samples.output("rows")["sha256"], "prefixes": "p"},
                          outputs={"rows": write_stage(ctx.stage_dir("eval"), [{"x": 1}])})
    again = generate_and_score(ctx, "eval", ctx.config.strong, trained, [], upstream={"samples": samples},
                               settings={"prefixes": "p"})
    assert again.resumed


def test_an_input_named_both_as_a_stage_and_as_a_setting_is_refused(tmp_path):
    ctx = _context(tmp_path)
    a = _rows_stage(ctx, "a", [1])
    with pytest.raises(ValueError, match=r"\['a'\] are named both"):
        inputs_from({"a": a}, {"a": "x"})
    two = StageResult(outputs={"rows": a.output("rows"), "model": a.output("rows")})
    with pytest.raises(ValueError, match="one output"):
        two.sha256()


def test_a_weak_teacher_may_not_take_the_name_of_a_stage_the_recipe_reads_beside_it():
    with pytest.raises(ValueError, match=r"teacher names \['strong'\] are reserved"):
        RunConfig.model_validate({"weak": [{"name": "strong", "model": "m"}], "strong": {"name": "s", "model": "m"}})
