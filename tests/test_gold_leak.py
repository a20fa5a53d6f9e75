"""Gold-leak guard for the weak-to-strong reasoning recipe (issue: no gold answer of the strong
model's training half reaches any selection or training stage).

The recipe runs end to end on tiny models (Stage I and Stage II) with the one reader of that gold,
`strong_train_with_gold`, made to raise: only the ceiling baseline may call it, and it is left out.
Then every generation on the strong half must have carried no gold, and no selection row a gold field.
"""
from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.tiny_run import write_config
from w2s_ray.config import load_config
from w2s_ray.run.manifest import Manifest

pytestmark = pytest.mark.slow

GOLD_FIELDS = {"gold", "correct", "has_gold", "solution"}


def _forbidden(*_args, **_kwargs):
    raise AssertionError("strong_train_with_gold was called outside the ceiling baseline")


def test_no_strong_half_gold_reaches_selection_or_training(tmp_path, tiny_models, ray_local, monkeypatch):
    import w2s_ray.data.sources as sources
    import w2s_ray.recipes.w2s_reasoning.baselines as baselines
    from w2s_ray.run.driver import run

    monkeypatch.setattr(sources, "strong_train_with_gold", _forbidden)
    monkeypatch.setattr(baselines, "strong_train_with_gold", _forbidden)
    path = write_config(tmp_path / "run.yaml", tmp_path / "run", tiny_models, selection="take_all",
                        baselines=["weak"])
    raw = yaml.safe_load(path.read_text())
    raw["stage2"] = {"n": 4, "temperature": 1.0, "min_confidence": 0.5, "flip_confidence": 0.5, "lr": 1e-4,
                     "questions": 20}
    path.write_text(yaml.safe_dump(raw))
    manifest = run(load_config(path))

    stages = manifest.stages()
    assert {"round_1/select", "round_1/train", "stage2/pairs", "stage2/train", "stage2/eval"} <= set(stages)
    strong_half = {p["id"] for p in _strong_train_ids(manifest)}
    sampled = pq.read_table(manifest.record("stage2/sample")["outputs"]["rows"]["path"]).column("problem_id").to_pylist()
    assert len(strong_half) > 20 and len(sampled) == 20 * 4 and len(set(sampled)) == 20  # stage2.questions
    for key in stages:
        record = manifest.record(key)
        rows_out = record["outputs"].get("rows")
        if rows_out is None:
            continue
        table = pq.read_table(Path(rows_out["path"]))
        if key.endswith(("/select", "/pairs")):
            assert not GOLD_FIELDS & set(table.column_names), f"{key} carries {GOLD_FIELDS & set(table.column_names)}"
        elif "gold" in table.column_names:
            rows = table.select(["problem_id", "gold"]).to_pylist()
            # Ray Data's pandas batches turn a missing gold into NaN: both mean "no gold".
            leaked = [r for r in rows if r["problem_id"] in strong_half and not _missing(r["gold"])]
            assert not leaked, f"{key}: strong-half rows with gold, e.g. {leaked[:2]}"
    # Training consumed exactly the selected rows: the checkpoints name the selection's data hash.
    for train_key, select_key in (("round_1/train", "round_1/select"), ("stage2/train", "stage2/pairs")):
        assert manifest.record(train_key)["inputs"]["rows"] == manifest.record(select_key)["outputs"]["rows"]["sha256"]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _strong_train_ids(manifest: Manifest) -> list[dict]:
    rows = manifest.record("weak/weak/generate")["outputs"]["rows"]
    return [{"id": pid} for pid in pq.read_table(rows["path"]).column("problem_id").to_pylist()]
