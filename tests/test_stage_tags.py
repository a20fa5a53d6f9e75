"""Stage tags: readers find a run's models by the tags its recipe recorded, whatever the stage keys;
old manifests (no tags) read the same through the legacy mapping."""
from __future__ import annotations

from pathlib import Path

import pytest

from w2s_ray.config import RunConfig
from w2s_ray.data.sources import strong_train_with_gold
from w2s_ray.eval.compare import compare_rows
from w2s_ray.eval.report import build_report
from w2s_ray.run.manifest import Manifest, StageResult, run_stage
from w2s_ray.run.stage_io import describe_checkpoint, write_stage
from w2s_ray.run.stage_tags import Tag, legacy_tag, stage_tag, tagged
from w2s_ray.serve.promotion import promote_latest
from w2s_ray.train.publish import publish_dir

CONFIG = RunConfig.model_validate({
    "name": "tiny", "run_dir": "unused",
    "data": {"source": "world", "seed": 0, "n_weak_train": 8, "n_strong_train": 6, "n_test_per_level": 1},
    "weak": [{"name": "wa", "model": "m"}], "strong": {"name": "s", "model": "m"},
})
LEGACY_KEYS = {  # today's w2s_reasoning keys -> the keys a differently written recipe might use
    "baselines/weak/wa/eval": "ref/teacher_wa", "baselines/ceiling/eval": "ref/gold_sft_eval",
    "baselines/full_weak_ft/select": "ref/all_weak", "baselines/full_weak_ft/eval": "ref/all_weak_eval",
    "round_1/select": "my_round_1/filter", "round_1/train": "my_round_1/fit", "round_1/eval": "my_round_1/eval",
    "stage2/pairs": "confidence/pairs", "stage2/train": "confidence/dpo", "stage2/eval": "confidence/eval",
}


def test_legacy_keys_map_to_the_tags_the_recipe_writes():
    assert legacy_tag("baselines/weak/weak-b/eval") == Tag("baseline", "weak", teacher="weak-b")
    assert legacy_tag("baselines/strong_base_few_shot/eval") == Tag("baseline", "strong_base_few_shot")
    assert legacy_tag("baselines/ceiling/train") == Tag("train", "ceiling")
    assert legacy_tag("baselines/full_weak_ft/select") == Tag("select", "full_weak_ft")
    assert legacy_tag("round_12/eval") == Tag("student_eval", "round 12", round=12)
    assert legacy_tag("round_3/select") == Tag("select", "round 3", round=3)
    assert legacy_tag("stage2/pairs") == Tag("select", "stage2")
    assert legacy_tag("stage2/eval") == Tag("student_eval", "stage2")
    for untagged in ("weak/wa/generate", "round_1/generate_strong", "baselines/ceiling/select", "stage2/sample",
                     "models/world-student/build", "my_round_1/eval"):
        assert legacy_tag(untagged) is None


def test_a_tag_is_checked_and_a_recorded_tag_wins_over_the_key(tmp_path):
    with pytest.raises(ValueError, match="role"):
        Tag("evaluation", "x")
    with pytest.raises(ValueError, match="label"):
        Tag("baseline", "")
    manifest = Manifest.create(tmp_path, {}, "h")
    rows = write_stage(tmp_path / "a", [{"x": 1}])
    run_stage(manifest, "round_1/eval", lambda: StageResult(outputs={"rows": rows}), tag=Tag("baseline", "odd"))
    # Resumed: the record (and its tag) stands; a different tag asked for later does not rewrite it.
    assert run_stage(manifest, "round_1/eval", lambda: 1 / 0, tag=Tag("baseline", "other")).resumed
    again = Manifest.load(tmp_path)
    assert stage_tag(again.record("round_1/eval"), "round_1/eval") == Tag("baseline", "odd")
    assert tagged(again, "student_eval") == [] and [k for k, _ in tagged(again, "baseline")] == ["round_1/eval"]


def _eval_rows(correct: list[bool]) -> list[dict]:
    return [{"problem_id": f"t{i}", "correct": c, "has_gold": True, "level": 1 + i % 2} for i, c in enumerate(correct)]


def _accuracy(correct: list[bool]) -> dict:
    by_level = {}
    for row in _eval_rows(correct):
        by_level.setdefault(str(row["level"]), []).append(row["correct"])
    return {"acc": sum(correct) / len(correct), "n": len(correct),
            "acc_by_level": {k: sum(v) / len(v) for k, v in by_level.items()}}


def _model(weights: bytes):
    def fill(staging: Path):
        staging.mkdir(parents=True)
        (staging / "config.json").write_text('{"model_type": "llama"}')
        (staging / "model.safetensors").write_bytes(weights)

    return fill


def _run(run_dir: Path, keys: dict[str, str], tags: bool) -> Manifest:
    """A finished run: weak baseline, ceiling, full weak FT, one round, Stage II; under `keys`,
    with each stage tagged as w2s_reasoning tags it (tags=True) or untagged as before tags."""
    manifest = Manifest.create(run_dir, CONFIG.model_dump(mode="json"), CONFIG.config_hash())
    strong = strong_train_with_gold(CONFIG.data)[:4]  # two weak answers right, two wrong
    weak_rows = [{"problem_id": p.id, "source_model": "wa", "answer": p.gold if i < 2 else "wrong"}
                 for i, p in enumerate(strong)]
    evals = {"baselines/weak/wa/eval": [True, False, False, False], "baselines/ceiling/eval": [True, True, True, False],
             "baselines/full_weak_ft/eval": [True, True, False, False], "round_1/eval": [True, True, True, False],
             "stage2/eval": [True, True, False, True]}
    weights = {"round_1/train": b"r1", "stage2/train": b"s2"}
    for old in ("baselines/weak/wa/eval", "baselines/ceiling/eval", "baselines/full_weak_ft/select",
                "baselines/full_weak_ft/eval", "round_1/select", "round_1/train", "round_1/eval",
                "stage2/pairs", "stage2/train", "stage2/eval"):
        key, tag = keys.get(old, old), legacy_tag(old) if tags else None
        if old in evals:
            out = {"rows": write_stage(run_dir / key, _eval_rows(evals[old]))}
            metrics = {"accuracy": _accuracy(evals[old])}
        elif old in weights:
            out = {"model": describe_checkpoint(publish_dir(run_dir / key / "model", _model(weights[old])))}
            metrics = {}
        else:
            rows = weak_rows if old != "stage2/pairs" else [
                {"problem_id": r["problem_id"], "source_model": "wa", "chosen": "x", "chosen_answer": r["answer"]}
                for r in weak_rows[:2]]
            out = {"rows": write_stage(run_dir / key, rows)}
            metrics = {"kept": len(rows), "unit": "solution"}
        run_stage(manifest, key, lambda: StageResult(outputs=out, rows_in=4, rows_out=4, metrics=metrics), tag=tag)
    return manifest


def _comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("stage_seconds", "throughput")}


def test_a_tagged_recipe_with_its_own_stage_keys_reports_as_the_old_keys_did(tmp_path):
    _run(tmp_path / "old", {}, tags=False)
    _run(tmp_path / "new", LEGACY_KEYS, tags=True)
    old, new = build_report(tmp_path / "old"), build_report(tmp_path / "new")
    assert [r["round"] for r in new["rounds"]] == [1]  # "my_round_1/eval", found by its tag
    assert new["rounds"][0]["acc"] == 0.75 and new["rounds"][0]["pgr"] == pytest.approx((0.75 - 0.25) / 0.5)
    assert new["rounds"][0]["selection"]["kept_correct"] == 0.5 and new["rounds"][0]["selected_rows"] == 4
    assert new["stage2"]["acc"] == 0.75 and new["stage2"]["pairs"] == 2
    assert set(new["baselines"]) == {"weak", "strong_base", "strong_base_few_shot", "ceiling", "full_weak_ft"}
    assert {k for k, v in new["baselines"].items() if v} == {"weak", "ceiling", "full_weak_ft"}
    assert set(new["baselines"]["full_weak_ft"]) >= {"acc", "acc_by_level", "pgr", "selection", "pgr_ci"}
    assert new["teachers"]["wa"]["acc"] == 0.25
    # The old manifest (no tags, today's keys) reads through the legacy mapping to the same report.
    assert _comparable(new) == _comparable(old)
    assert [r["model"] for r in compare_rows(tmp_path / "new")] == [
        "weak: wa", "full weak FT", "stage I round 1", "stage II", "ceiling (gold SFT)"]


def test_promotion_serves_the_newest_tagged_student_whatever_its_key(tmp_path):
    _run(tmp_path / "new", LEGACY_KEYS, tags=True)
    latest = promote_latest(tmp_path / "new")
    assert (latest.model_id, latest.round, latest.source) == ("tiny-stage2", 2, "confidence/dpo/model")
