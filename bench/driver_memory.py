"""Driver memory of a stage's rows on their way to training: score -> write -> select -> train input.

    python bench/driver_memory.py [--sizes 10000 100000] [--paths lists stream data join]
                                  [--source GEN.parquet]
                                  [--max-rss-gib 8]

Each (path, size) runs in a child process of its own (its own embedded Ray, 2 CPUs), so the driver
figures are that process's alone: peak RSS (/proc/self/status VmHWM, which never goes down) after each
phase, and the phase's wall time. The parent watches the child's RSS and stops it past --max-rss-gib
(the machine is shared; no swap): that size is then reported as "stopped at N GiB in <phase>".

The rows are real model text: a generate stage's scored rows (--source; default the first
runs/*/weak/*/generate/data.parquet under the current directory) replicated to size inside Ray
tasks, each copy a distinct (problem_id, sample_index), four samples a problem. What makes them
stands in for generation and scoring (the engines and scorers are the same on both paths); the
phases are the recipe's own code:

  lists   today's path. score: the scored dataset's rows into the driver (iter_rows), sorted,
          accuracy_by_model; write: write_stage (one parquet from the dicts); select: stage_rows
          (to_pylist) -> take_all -> write_stage, Selection.stats; train input: stage_rows,
          rows_digest and ray.put of the whole list (what run_train_job hands every rank).
  stream  the rows written by the workers (stage_dataset.write_dataset), accuracy from its columns
          one file at a time, the selection in the driver (lists), and the train input as run_train_job hands it to Ray Train's `datasets=`
          (train_job.StageRowsInput), read in a Ray task standing in for a rank.
  data    stream's, with the selection in Ray Data (stages/select_data.py): take-all a map in the
          workers, the accounting and the hash in the driver, the selected rows written by the workers.
  join    data's, with the consistency filter: the weak rows and a strong side (the same rows'
          sample 0 under another model, 1 row in 4) joined on problem_id (a group-by over both).

Measured 2026-12-07 (main 84d768c, quiet, 2 cores; `--sizes 10000 100000 1000000 --paths data join
--source runs/demo-w2s-s0/weak/weak-b/generate/data.parquet`), driver peak RSS MiB / wall s:
    data   10k 541 / 27     100k 555 / 29     1M 559 / 61
    join   10k 541 / 54     100k 555 / 112    1M 563 / 611  (the group-by's selection: 582 s)
Flat within 1.04x from 10k to 1M. Before the shuffles were sized (run/shuffle.py) the group-by's
pieces stayed in the driver (tests/test_driver_memory.py: 48 / 111 MiB of growth at 20k / 200k).
Again after c639a5a (a group-by a sort-based shuffle; select_data no longer imports torch, so the
driver starts ~290 MiB lower), `--paths join`, quiet: 10k 251 / 28, 100k 264 / 79, 1M 269 / 608 (the
selection 579 s, Ray Data's map_groups over 250k groups): flat within 1.07x.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLES_PER_PROBLEM = 4
ROWS_PER_BLOCK = 20_000


def _peak_mib() -> float:
    # VmHWM, this process's own peak since exec: ru_maxrss would start at the parent's (Linux keeps
    # it across fork and exec).
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


class Replicate:
    """A map_batches callable: ids in, copies of the source rows out (loaded once per worker)."""

    def __init__(self, source: str):
        import pyarrow.parquet as pq

        self.template = pq.read_table(source)

    def __call__(self, batch):
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = batch["id"]
        picked = self.template.take(pa.array(ids % self.template.num_rows))
        problems = [f"bench:{i // SAMPLES_PER_PROBLEM:08d}" for i in ids]
        picked = picked.set_column(picked.schema.get_field_index("problem_id"), "problem_id", pa.array(problems))
        samples = pa.array(ids % SAMPLES_PER_PROBLEM, pa.int64())
        picked = picked.set_column(picked.schema.get_field_index("sample_index"), "sample_index", samples)
        return picked.set_column(picked.schema.get_field_index("role"), "role",
                                 pc.cast(pa.array(["weak"] * len(ids)), pa.string()))


def scored_dataset(source: str, n: int):
    import ray

    blocks = max(2, n // ROWS_PER_BLOCK)
    return ray.data.range(n, override_num_blocks=blocks).map_batches(
        Replicate, fn_constructor_args=(source,), batch_format="numpy", concurrency=2, num_cpus=0.5)


def run_lists(ds, work: Path, phase) -> None:
    from w2s_ray.eval.accuracy import accuracy_by_model
    from w2s_ray.run.progress import Progress, iter_rows
    from w2s_ray.run.stage_io import read_output, write_stage
    from w2s_ray.select import take_all
    from w2s_ray.train.train_job import rows_digest
    import ray

    with phase("score"):
        rows = list(iter_rows(ds, Progress("bench score", 0, every_s=1e9)))
        rows.sort(key=lambda r: (r["problem_id"], r["sample_index"]))
        accuracy_by_model(rows)
    with phase("write"):
        generated = write_stage(work / "generate", rows)
        del rows
    with phase("select"):
        selection = take_all(read_output(generated))
        selected = write_stage(work / "select", selection.rows)
        selection.stats()
        del selection
    with phase("train-input"):
        rows = read_output(selected)
        rows_digest(rows)
        ref = ray.put(rows)
        del rows, ref


def run_stream(ds, work: Path, phase) -> None:
    from w2s_ray.eval.accuracy import ACCURACY_COLUMNS, accuracy_by_model
    from w2s_ray.run.stage_dataset import write_dataset
    from w2s_ray.run.stage_io import iter_output_columns, read_output, write_stage
    from w2s_ray.select import take_all
    import ray

    with phase("score+write"):
        generated = write_dataset(work / "generate", ds, order=("problem_id", "sample_index"))
        accuracy_by_model(iter_output_columns(generated, ACCURACY_COLUMNS))
    with phase("select"):
        selection = take_all(read_output(generated))
        selected = write_stage(work / "select", selection.rows)
        selection.stats()
        del selection
    with phase("train-input"):
        from w2s_ray.train.train_job import StageRowsInput

        rows = StageRowsInput(selected, ("prompt", "completion")).dataset()  # what run_train_job hands Ray Train

        @ray.remote(num_cpus=0.5)
        def rank(ds) -> int:  # a rank reading its rows (the dataset is not split: see train_job)
            return sum(b.num_rows for b in ds.iterator().iter_batches(batch_size=4096, batch_format="pyarrow"))

        assert ray.get(rank.remote(rows)) == selected["rows"]


def run_data(ds, work: Path, phase, selection: str) -> None:
    from w2s_ray.eval.accuracy import ACCURACY_COLUMNS, accuracy_by_model
    from w2s_ray.run.manifest import StageResult
    from w2s_ray.run.stage_dataset import write_dataset
    from w2s_ray.run.stage_io import iter_output_columns
    from w2s_ray.run.shuffle import in_order
    from w2s_ray.stages.select_data import UpstreamData, consistency_data, run_selection, take_all_data
    from w2s_ray.train.train_job import StageRowsInput
    import ray

    with phase("score+write"):
        generated = write_dataset(work / "generate", ds, order=("problem_id", "sample_index"))
        accuracy_by_model(iter_output_columns(generated, ACCURACY_COLUMNS))
        upstream = {"weak": StageResult(outputs={"rows": generated})}
        if selection == "join":  # a strong side: sample 0 of each problem, as another model
            strong = ds.filter(lambda r: r["sample_index"] == 0).map_batches(_as_strong, batch_format="pyarrow")
            upstream["strong"] = StageResult(outputs={"rows": write_dataset(work / "strong", strong)})
    with phase("select"):
        data = UpstreamData(upstream)
        plan = take_all_data(data["weak"]) if selection == "data" else consistency_data(data["weak"], data["strong"])
        rows, summary = run_selection(plan)
        selected = write_dataset(work / "select", in_order(rows), order=plan.order)
        summary.stats()
        print(json.dumps({"selection": {k: v for k, v in summary.stats().items() if k != "by_teacher"}}), flush=True)
    with phase("train-input"):
        rows = StageRowsInput(selected, ("prompt", "completion")).dataset()

        @ray.remote(num_cpus=0.5)
        def rank(ds) -> int:
            return sum(b.num_rows for b in ds.iterator().iter_batches(batch_size=4096, batch_format="pyarrow"))

        assert ray.get(rank.remote(rows)) == selected["rows"]


def _as_strong(table):
    import pyarrow as pa

    for column, value in (("model", "bench-strong"), ("role", "strong")):
        table = table.set_column(table.schema.get_field_index(column), column, pa.array([value] * table.num_rows))
    return table


def child(path: str, n: int, source: str) -> None:
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

    init_ray(num_cpus=2, log_to_driver=False)
    figures = {"path": path, "rows": n, "phases": []}

    class phase:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            self.t0 = time.perf_counter()

        def __exit__(self, *exc):
            figures["phases"].append({"phase": self.name, "seconds": round(time.perf_counter() - self.t0, 2),
                                      "peak_mib": round(_peak_mib())})
            print(json.dumps({"progress": figures["phases"][-1]}), flush=True)

    figures["start_mib"] = round(_peak_mib())
    try:
        with tempfile.TemporaryDirectory(prefix="w2s-bench-") as work:
            ds = scored_dataset(source, n)
            if path in ("data", "join"):
                run_data(ds, Path(work), phase, path)
            else:
                (run_lists if path == "lists" else run_stream)(ds, Path(work), phase)
    finally:
        shutdown_ray()
    print(json.dumps(figures), flush=True)


def measure(path: str, n: int, source: str, max_rss_gib: float) -> dict:
    import psutil

    cmd = [sys.executable, __file__, "--child", path, str(n), "--source", source]
    errors = tempfile.TemporaryFile("w+")  # the child's stderr: its last lines when it fails
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
    watched, seen_gib, stopped = psutil.Process(proc.pid), 0.0, False
    lines: list[str] = []
    import threading

    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            seen_gib = max(seen_gib, watched.memory_info().rss / 2**30)
        except psutil.NoSuchProcess:
            break
        if seen_gib > max_rss_gib:
            proc.kill()
            stopped = True
        time.sleep(0.2)
    proc.wait()
    reader.join(timeout=5)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    final = next((r for r in records if "phases" in r), None)
    if final is not None and proc.returncode == 0:
        return final
    done = [r["progress"] for r in records if "progress" in r]
    errors.seek(0)
    why = f"stopped at {seen_gib:.1f} GiB RSS" if stopped else \
        f"exit {proc.returncode}: {' | '.join(errors.read().strip().splitlines()[-3:])}"
    return {"path": path, "rows": n, "phases": done, "failed": f"{why} after {[p['phase'] for p in done]}"}


def table(results: list[dict]) -> str:
    lines = [f"{'path':<7} {'rows':>9}  {'peak RSS MiB':>12}  {'wall s':>7}  phases (s, peak MiB after)"]
    for r in results:
        phases = ", ".join(f"{p['phase']} {p['seconds']:.1f}s/{p['peak_mib']}" for p in r["phases"])
        peak = max((p["peak_mib"] for p in r["phases"]), default=0)
        wall = sum(p["seconds"] for p in r["phases"])
        lines.append(f"{r['path']:<7} {r['rows']:>9,}  {peak:>12,}  {wall:>7.1f}  {phases}"
                     + (f"  FAILED: {r['failed']}" if "failed" in r else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--paths", nargs="+", choices=["lists", "stream", "data", "join"],
                        default=["lists", "stream", "data"])
    parser.add_argument("--source", help="a generate stage's data.parquet (scored rows)")
    parser.add_argument("--max-rss-gib", type=float, default=8.0, help="stop a child whose RSS passes this")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = args.source or next(iter(sorted(glob.glob("runs/*/weak/*/generate/data.parquet"))), None)
    if source is None:
        parser.error("no --source, and no runs/*/weak/*/generate/data.parquet under the current directory")
    source = os.path.abspath(source)
    if args.child:
        child(args.child[0], int(args.child[1]), source)
        return
    results = []
    for n in args.sizes:
        for path in args.paths:
            result = measure(path, n, source, args.max_rss_gib)
            if "node timed out during startup" in result.get("failed", ""):  # a busy machine's Ray: once more
                result = measure(path, n, source, args.max_rss_gib)
            results.append(result)
            print(json.dumps(results[-1]), flush=True)
    print(f"source: {source}\n" + table(results))


if __name__ == "__main__":
    main()
