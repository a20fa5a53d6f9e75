"""Rows that never pass through the driver (issue 30): a stage's rows written by Ray's workers, SFT
reading a stage's rows through Ray Train's `datasets=` (the driver's memory: test_driver_memory.py).

Both start Ray (one test two training runs), so they are long: `make test-long`."""
from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from tests.conftest import long_test
from tests.test_train_sft import FAST, base_model, ray_for_training, rows  # noqa: F401 (fixtures)
from w2s_ray.run.stage_dataset import write_dataset
from w2s_ray.run.stage_io import read_output, write_stage
from w2s_ray.train import TrainConfig
from w2s_ray.train.objectives import train_objective

pytestmark = long_test


def test_workers_write_a_dataset_of_many_files_read_back_in_order(ray_for_training, tmp_path):
    ray = ray_for_training
    rows = [{"problem_id": f"p{i // 4:05d}", "sample_index": i % 4, "text": f"t{i}"} for i in range(4000)]
    ds = ray.data.from_items(rows[::-1], override_num_blocks=8).map_batches(lambda b: b, batch_format="pyarrow")
    record = write_dataset(tmp_path, ds, order=("problem_id", "sample_index"))
    assert record["rows"] == 4000 and len(record["files"]) > 1
    assert read_output(record) == rows


def test_sft_from_a_stage_output_trains_as_from_its_rows_without_the_driver_reading_them(
        ray_for_training, base_model, rows, tmp_path, monkeypatch):  # noqa: F811 (fixtures)
    output = write_stage(tmp_path / "select", [{**row, "problem_id": f"p{i}"} for i, row in enumerate(rows)])
    from_list = train_objective(rows, base_model, tmp_path / "a", TrainConfig(**FAST), device="cpu")

    def no_reading(*_args, **_kwargs):
        raise AssertionError("the driver read the stage's rows")

    import w2s_ray.run.stage_io as stage_io
    import w2s_ray.run.stage_dataset as stage_dataset
    for module, name in ((stage_io, "read_output"), (stage_io, "read_stage"), (stage_dataset, "read_dataset_rows")):
        monkeypatch.setattr(module, name, no_reading)
    streamed = train_objective(output, base_model, tmp_path / "b", TrainConfig(**FAST), device="cpu")

    assert [h["loss"] for h in streamed.metrics["loss_history"]] == \
        pytest.approx([h["loss"] for h in from_list.metrics["loss_history"]], rel=1e-5)
    a, b = load_file(str(tmp_path / "a/model.safetensors")), load_file(str(tmp_path / "b/model.safetensors"))
    assert all((a[k] - b[k]).abs().max() < 1e-5 for k in a)
    provenance = json.loads((tmp_path / "b" / "train_config.json").read_text())
    assert provenance["n_rows"] == len(rows) and provenance["rows_sha256"] == output["sha256"][:16]
