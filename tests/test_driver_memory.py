"""The driver's memory is flat in a stage's row count (issue 30): 20k and 200k short rows made by Ray
tasks, written by the workers, read for accuracy, selected in Ray Data (take-all, a map; the
consistency filter, a join on problem_id) and written by the workers, and handed to training as Ray
Train reads them; and today's path before issue 30 (rows through the driver) at 200k, to show the
measure tells them apart.

The flat test is in `make test` (one driver runs both sizes: 69 s quiet since group-bys are sort-based
shuffles, 129 s before; before that, two drivers: 138 s quiet, 212 s in a slower CI run; 16 samples a problem, so the consistency filter has 12.5k groups at
200k rows, not 50k); the lists test in `make test-long`. History: on 2026-12-07 the
flat test failed (growth 47.8 MiB at 20k rows, 111.4 at 200k; the group-by's 200 hash partitions
left most pieces under Ray's 100 KiB inline limit, so the driver held them: run/shuffle.py); with
the partitions sized to the data, 21.0 and 27.0 MiB (4 samples a problem, quiet)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import long_test, shell_env

# A child process of its own, so that its peak RSS is the driver's alone (VmHWM: ru_maxrss would carry
# over the pytest process's peak, which Linux keeps across fork and exec): short rows made
# and scored by Ray tasks, written by the workers, accuracy from its columns, the training input.
DRIVER = """
import json, re, sys, tempfile
from pathlib import Path
from w2s_ray.raycluster.runtime import init_ray
ray = init_ray(num_cpus=2, log_to_driver=False)
from w2s_ray.eval.accuracy import ACCURACY_COLUMNS, accuracy_by_model
from w2s_ray.run.stage_dataset import write_dataset
from w2s_ray.run.stage_io import iter_output_columns, read_output
from w2s_ray.train.train_job import StageRowsInput
from w2s_ray.run.manifest import StageResult
from w2s_ray.run.shuffle import in_order
from w2s_ray.stages.select_data import UpstreamData, consistency_data, run_selection, take_all_data
sizes, path = [int(n) for n in sys.argv[1].split(",")], sys.argv[2]

def peak_kib():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))

def rows(batch, model="weak", problem=lambda i: i // 16, sample=lambda i: i % 16):
    ids = batch["id"]
    return {"problem_id": [f"p{problem(i):07d}" for i in ids], "sample_index": sample(ids), "model": [model] * len(ids),
            "role": [model] * len(ids), "level": ids % 5 + 1, "has_gold": [True] * len(ids), "correct": ids % 3 == 0,
            "question": [f"q{problem(i)}" for i in ids], "answer": [str(i % 3) for i in ids],
            "text": [f"{i} + {i} = {2 * i}\\n#### {i % 3}" for i in ids]}

ray.data.range(10).materialize()  # Ray Data's own start-up, before the baseline
start = peak_kib()

def one_size(n):
    ds = ray.data.range(n, override_num_blocks=max(2, n // 20000)).map_batches(rows, batch_format="numpy")
    with tempfile.TemporaryDirectory() as work:
        if path == "stream":
            record = write_dataset(Path(work), ds, order=("problem_id", "sample_index"))
            acc = accuracy_by_model(iter_output_columns(record, ACCURACY_COLUMNS))
            # The strong side: every other problem's sample 0, as another model.
            strong = ray.data.range(n // 32, override_num_blocks=max(2, n // 320000)).map_batches(
                rows, fn_kwargs={"model": "strong", "problem": lambda i: 2 * i, "sample": lambda i: 0 * i},
                batch_format="numpy")
            data = UpstreamData({"weak": StageResult(outputs={"rows": record}),
                                 "strong": StageResult(outputs={"rows": write_dataset(Path(work) / "strong", strong)})})
            for plan in (take_all_data(data["weak"]), consistency_data(data["weak"], data["strong"])):
                selected, summary = run_selection(plan)
                selected = write_dataset(Path(work) / plan.kind, in_order(selected), order=plan.order)
                assert selected["rows"] == summary.rows_out > 0
            StageRowsInput(selected, ("prompt", "completion")).dataset()
        else:  # today's path before issue 30, to show the measure tells the two apart
            from w2s_ray.run.stage_io import write_stage
            rows_ = sorted(ds.take_all(), key=lambda r: (r["problem_id"], r["sample_index"]))
            acc = accuracy_by_model(rows_)
            record = write_stage(Path(work), rows_)
            ray.put(read_output(record))
    peak = peak_kib()
    print(json.dumps({"rows": record["rows"], "growth_mib": (peak - start) / 1024, "acc_n": acc["weak"]["n"]}),
          flush=True)

for n in sizes:  # one driver for every size: the peak after each is over all before it (stricter)
    one_size(n)
"""


def driver_growth(sizes: list[int], path: str) -> list[dict]:
    """One driver runs every size in turn: each figure is the driver's peak after that size, over its
    baseline (so a later size's counts the earlier's too, and one Ray start serves them all)."""
    out = subprocess.run([sys.executable, "-c", DRIVER, ",".join(map(str, sizes)), path], env=shell_env(),
                         capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    # The script's JSON lines: Ray may print its own lines to stdout among them.
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"rows"')]
    assert [line["rows"] for line in lines] == sizes, out.stdout[-3000:]
    return lines


@pytest.mark.slow
def test_driver_memory_is_flat_from_20k_to_200k_rows():
    small, large = driver_growth([20_000, 200_000], "stream")
    assert small["rows"] == small["acc_n"] == 20_000 and large["rows"] == large["acc_n"] == 200_000
    # Generous bounds: what the driver adds for 10x the rows is small, and less than 2x overall.
    assert large["growth_mib"] < 100 and large["growth_mib"] < 2 * small["growth_mib"] + 40, (small, large)


@long_test
def test_the_measure_tells_the_lists_path_apart_at_200k_rows():
    """Rows through the driver (before issue 30) grow it past what the streamed path adds."""
    (lists,), (large,) = driver_growth([200_000], "lists"), driver_growth([200_000], "stream")
    assert lists["growth_mib"] > 150 > large["growth_mib"], (lists, large)
