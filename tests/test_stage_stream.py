"""Rows that never pass through the driver (issue 30): a stage's rows written by Ray's workers, SFT
reading a stage's rows through Ray Train's `datasets=`, and the driver's memory flat in the row count.

All of it starts Ray (and one test two training runs), so it is long: `make test-long`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.conftest import long_test, shell_env
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


# A child process of its own, so that its peak RSS (ru_maxrss) is the driver's alone: short rows made
# and scored by Ray tasks, written by the workers, accuracy from two columns, the training input.
DRIVER = """
import json, resource, sys, tempfile
from pathlib import Path
from w2s_ray.raycluster.runtime import init_ray
ray = init_ray(num_cpus=2, log_to_driver=False)
from w2s_ray.eval.accuracy import ACCURACY_COLUMNS, accuracy_by_model
from w2s_ray.run.stage_dataset import write_dataset
from w2s_ray.run.stage_io import iter_output_columns, read_output
from w2s_ray.train.train_job import StageRowsInput
n, path = int(sys.argv[1]), sys.argv[2]

def rows(batch):
    ids = batch["id"]
    return {"problem_id": [f"p{i // 4:07d}" for i in ids], "sample_index": ids % 4, "model": ["weak"] * len(ids),
            "level": ids % 5 + 1, "has_gold": [True] * len(ids), "correct": ids % 3 == 0,
            "text": [f"{i} + {i} = {2 * i}\\n#### {2 * i}" for i in ids]}

ds = ray.data.range(n, override_num_blocks=max(2, n // 20000)).map_batches(rows, batch_format="numpy")
ray.data.range(10).materialize()  # Ray Data's own start-up, before the baseline
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as work:
    if path == "stream":
        record = write_dataset(Path(work), ds, order=("problem_id", "sample_index"))
        acc = accuracy_by_model(iter_output_columns(record, ACCURACY_COLUMNS))
        StageRowsInput(record, ("text",)).dataset()
    else:  # today's path before issue 30, to show the measure tells the two apart
        from w2s_ray.run.stage_io import write_stage
        rows_ = sorted(ds.take_all(), key=lambda r: (r["problem_id"], r["sample_index"]))
        acc = accuracy_by_model(rows_)
        record = write_stage(Path(work), rows_)
        ray.put(read_output(record))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": record["rows"], "growth_mib": (peak - start) / 1024, "acc_n": acc["weak"]["n"]}))
"""


def driver_growth(n: int, path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", DRIVER, str(n), path], env=shell_env(), capture_output=True,
                         text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_driver_memory_is_flat_from_20k_to_200k_rows():
    small, large = driver_growth(20_000, "stream"), driver_growth(200_000, "stream")
    assert small["rows"] == small["acc_n"] == 20_000 and large["rows"] == large["acc_n"] == 200_000
    # Generous bounds: what the driver adds for 10x the rows is small, and less than 2x overall.
    assert large["growth_mib"] < 100 and large["growth_mib"] < 2 * small["growth_mib"] + 40, (small, large)
    lists = driver_growth(200_000, "lists")
    assert lists["growth_mib"] > 150 > large["growth_mib"], (lists, large)  # the measure tells them apart
