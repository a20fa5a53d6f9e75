"""A generate stage end to end on the tiny model, rows/s: the rows written by the workers (today) vs
the driver materialising the scored rows and writing one parquet file (before issue 30).

    python bench/generate_stage_rows.py [--rows 10000 100000] [--max-tokens 8] [--batch-size 64]

Both ways run the stage's own body on the same Ray (embedded, 2 CPUs) and the same requests: world
problems (the tiny models' own world) replicated to size with distinct ids, n=1, greedy, the HF
engine, the run's default scorers (answer_check, step_check). Per size, one warm-up stage (256 rows,
not reported) starts the workers and imports; then `workers` (today), then `driver` (before).

  workers  generate() -> score_dataset() -> stage_dataset.write_dataset: the scorer actors write
           the stage's parquet files, the driver lists and hashes them (stages/steps.py today).
  driver   generate() -> score_dataset() -> every scored row into the driver (iter_rows), sorted,
           accuracy_by_model over the list, stage_io.write_stage (one parquet file from the dicts):
           stages/steps.py's generate_and_score body at 875bd35^ (the parent of 875bd35, "Generate
           stages' rows written by the Ray workers as a parquet dataset"), re-created here as a
           function; generate(), score_dataset() and write_stage() are the same code on both ways.

rows/s is rows over the whole body (generation included: it is the same work on both ways, so
the ratio is diluted by it, as a run's would be). Driver peak RSS is this process's VmHWM after each
way; it never goes down, so `driver` (run second) reads max(workers, driver): its own peak is that
figure only where it exceeds the `workers` one.

Measured 2026-12-07, quiet 2-core machine (load < 2), `--rows 10000 100000`, one run:
  10k rows:  workers 382 rows/s, driver 403 rows/s, ratio 0.95; driver peak 566 / 615 MiB
  100k rows: workers 703 rows/s, driver 669 rows/s, ratio 1.05; driver peak 777 / 986 MiB
Generation is ~85 % of either way's time (100k: 123 s of 142 s), so the ratio is near 1 by design.
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

ROW_ORDER = ("problem_id", "sample_index")
DISTINCT_PROBLEMS = 1000
WARMUP_ROWS = 256


def _peak_mib() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def problems(n: int) -> list[dict]:
    """n problems: DISTINCT_PROBLEMS world problems in turn, each copy with an id of its own."""
    from w2s_ray.data.world import generate_world

    base = [p.to_row() for p in generate_world(min(n, DISTINCT_PROBLEMS), seed=0)]
    return [dict(base[i % len(base)], id=f"{base[i % len(base)]['id']}#{i // len(base)}") for i in range(n)]


def stage_workers(stage_dir: Path, problems, teacher, model_dir, specs) -> int:
    """The stage today: the scorers' rows go from their actors to the stage's files."""
    from w2s_ray.eval.accuracy import ACCURACY_COLUMNS, accuracy_by_model
    from w2s_ray.generate.stage import generate
    from w2s_ray.run.progress import Progress
    from w2s_ray.run.stage_dataset import write_dataset
    from w2s_ray.run.stage_io import iter_output_columns
    from w2s_ray.score.stage import score_dataset

    ds, gen = generate(problems, teacher, model_dir, "cpu")
    progress = Progress("score", gen.rows)
    output = write_dataset(stage_dir, score_dataset(ds, specs), order=ROW_ORDER, progress=progress)
    progress.finish(output["rows"])
    accuracy_by_model(iter_output_columns(output, ACCURACY_COLUMNS))
    return output["rows"]


def stage_driver(stage_dir: Path, problems, teacher, model_dir, specs) -> int:
    """The stage at 875bd35^: every scored row through the driver, one parquet file written from the dicts."""
    from w2s_ray.eval.accuracy import accuracy_by_model
    from w2s_ray.generate.stage import generate
    from w2s_ray.run.progress import Progress, iter_rows
    from w2s_ray.run.stage_io import write_stage
    from w2s_ray.score.stage import score_dataset

    ds, gen = generate(problems, teacher, model_dir, "cpu")
    rows = list(iter_rows(score_dataset(ds, specs), Progress("score", gen.rows)))
    rows.sort(key=lambda r: (r["problem_id"], r["sample_index"]))
    accuracy_by_model(rows)
    return write_stage(stage_dir, rows)["rows"]


def measure(way, n: int, teacher, model_dir, specs, work: Path) -> dict:
    requests = problems(n)
    start = time.perf_counter()
    rows = way(work / f"{way.__name__}-{n}", requests, teacher, model_dir, specs)
    seconds = time.perf_counter() - start
    assert rows == n, f"{way.__name__}: {rows} rows for {n} requests"
    return {"way": way.__name__.removeprefix("stage_"), "rows": n, "seconds": round(seconds, 1),
            "rows_per_s": round(n / seconds, 1), "driver_peak_mib": round(_peak_mib())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000])
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    from tests.tiny_run import build_tiny_models
    from w2s_ray.config import RunConfig, TeacherConfig
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

    weak, _ = build_tiny_models()
    teacher = TeacherConfig(name="weak", model=weak, engine="hf", dtype="float32", n=1, temperature=0.0,
                            shots=0, max_tokens=args.max_tokens, batch_size=args.batch_size)
    specs = RunConfig.model_fields["scorers"].default_factory()  # the run's default scorers
    init_ray(num_cpus=2, log_to_driver=False)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="w2s-bench-gen-") as work:
            work = Path(work)
            measure(stage_workers, WARMUP_ROWS, teacher, weak, specs, work)
            for n in args.rows:
                pair = [measure(way, n, teacher, weak, specs, work) for way in (stage_workers, stage_driver)]
                for r in pair:
                    print(json.dumps(r), flush=True)
                new, old = pair
                results.append({"rows": n, "workers_rows_per_s": new["rows_per_s"],
                                "driver_rows_per_s": old["rows_per_s"],
                                "ratio_new_over_old": round(new["rows_per_s"] / old["rows_per_s"], 3),
                                "peak_mib_after_workers": new["driver_peak_mib"],
                                "peak_mib_after_driver": old["driver_peak_mib"]})
                print(json.dumps(results[-1]), flush=True)
    finally:
        shutdown_ray()


if __name__ == "__main__":
    main()
