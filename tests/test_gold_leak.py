"""Gold-leak guard for the weak-to-strong reasoning recipe (issue: no gold answer of the strong
model's training half reaches any selection or training stage).

The recipe runs end to end on tiny models (two rounds of Stage I, the weak baseline and Stage II;
the run is tests/conftest.py's `w2s_two_rounds`, shared with test_w2s_rounds.py) with the one reader
of that gold, `strong_train_with_gold`, made to raise: only the ceiling baseline may call it, and it
is left out. Then every generation on the strong half (round 2's weak side, the round-1 student,
included) must have carried no gold, and no selection row a gold field.
"""
from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from w2s_ray.run.manifest import Manifest

pytestmark = pytest.mark.slow

GOLD_FIELDS = {"gold", "correct", "has_gold", "solution"}


def test_no_strong_half_gold_reaches_selection_or_training(w2s_two_rounds):
    _, manifest = w2s_two_rounds  # the gold reader raised if called: tests/conftest.py
    stages = manifest.stages()
    assert {"round_1/select", "round_1/train", "round_2/generate_weak_side", "round_2/select", "round_2/train",
            "stage2/pairs", "stage2/train", "stage2/eval"} <= set(stages)
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
    for train_key, select_key in (("round_1/train", "round_1/select"), ("round_2/train", "round_2/select"),
                                  ("stage2/train", "stage2/pairs")):
        assert manifest.record(train_key)["inputs"]["rows"] == manifest.record(select_key)["outputs"]["rows"]["sha256"]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _strong_train_ids(manifest: Manifest) -> list[dict]:
    rows = manifest.record("weak/weak/generate")["outputs"]["rows"]
    return [{"id": pid} for pid in pq.read_table(rows["path"]).column("problem_id").to_pylist()]
