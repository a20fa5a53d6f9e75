"""Each Ray Train rank's memory for its training rows: every row on every rank (before issue 30's
shards) against its own shard (train/shards.py), side by side in one run.

    python bench/rank_rows_memory.py [--sizes 10000 100000] [--workers 2] [--sources stage list] [--local]

Short SFT rows ({prompt, completion}, ~60 characters). For each size, source and way, a real Ray Train
run of `--workers` CPU workers whose loop only takes its rows as the training loop does:
  stage  a stage's parquet through Ray Train's `datasets=` (train_job.StageRowsInput).
         all:   the loop before the shards (every rank reads every row, then validates them all);
         shard: worker_loop.worker_rows (every rank streams every row, validates, keeps its shard).
  list   the driver's validated list through the object store.
         all:   one object of every row, which every rank gets;  shard: train_job.rank_rows_of.
Each rank reports its RSS (/proc/self/status VmRSS) before and after taking the rows, with the
rows held, and its peak (VmHWM) after: "held" is after - before, "peak" is VmHWM - before.

--local: no Ray; each (size, way, rank) in a fresh Python process that reads the stage's parquet a
batch at a time as a rank's Dataset iterator yields it and takes its rows the same two ways (the
rows' share of a rank's memory without Ray Data's and Ray Train's own; for a busy machine where a
Ray Train run per figure takes minutes).

Measured (--local, 2 ranks, this 2-core machine under load 20-45, 2026-12-07), RSS MiB a rank held
after taking its rows (~27 of it pyarrow's reading, the same at any size):
    10k rows:  every row 27.6 / 31.6   its shard (5,000) 29.9 / 27.9
   100k rows:  every row 94.3 / 97.8   its shard (50,000) 56.9 / 59.9   (peak 65.8 / 68.2)

Measured through real Ray Train (2 CPU workers, `--sizes 10000 100000 --workers 2 --sources stage`,
main 354cd83, quiet, 2026-12-07), RSS MiB a rank held after taking its rows (ranks 0 / 1):
    10k rows:  every row 13.7 / 13.7   its shard (5,000) 11.9 / 12.1
   100k rows:  every row 66.1 / 66.6   its shard (50,000) 34.3 / 34.5   (peak 42.5 / 42.6)
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1)) / 1024


def short_rows(n: int) -> list[dict]:
    return [{"prompt": f"Question: what is {i % 997} plus {i % 89}?\nAnswer:", "completion": f" {i % 997 + i % 89}"}
            for i in range(n)]


def rank_loop(cfg: dict) -> None:
    """A training loop that stops after taking its rows: the figures to cfg["out"]/rank<r>.json."""
    import gc

    import ray
    import ray.train

    from w2s_ray.train.config import TrainConfig
    from w2s_ray.train.objectives import get_objective
    from w2s_ray.train.worker_loop import worker_rows
    from w2s_ray.train.worker_runtime import world_rank

    config = TrainConfig.model_validate(cfg["train_config"])
    gc.collect()
    before = _status_mib("VmRSS")
    started = time.perf_counter()
    if cfg["way"] == "shard":
        rows = worker_rows(cfg, config).train
    elif "rows" in cfg:  # all, a list: the one object of every row
        rows = ray.get(cfg["rows"])
    else:  # all, a stage: worker_loop.worker_rows before the shards, as it was
        shard = ray.train.get_dataset_shard(cfg["rows_dataset"])
        rows = [row for batch in shard.iter_batches(batch_size=4096, batch_format="pyarrow")
                for row in batch.to_pylist()]
        rows = get_objective(config.objective).rows(rows)
    seconds = time.perf_counter() - started
    gc.collect()
    figures = {"rank": world_rank(), "rows": len(rows), "before_mib": before, "after_mib": _status_mib("VmRSS"),
               "hwm_mib": _status_mib("VmHWM"), "seconds": seconds}
    Path(cfg["out"], f"rank{figures['rank']}.json").write_text(json.dumps(figures))
    ray.train.report({"rows": len(rows)})


def measure(n: int, source: str, way: str, workers: int, work: Path) -> list[dict]:
    import ray
    from ray.train import RunConfig
    from ray.train.torch import TorchTrainer

    from w2s_ray.raycluster.devices import train_scaling
    from w2s_ray.run.stage_io import write_stage
    from w2s_ray.train import TrainConfig
    from w2s_ray.train.sft import validate_sft_rows
    from w2s_ray.train.train_job import ROWS_DATASET, StageRowsInput, rank_rows_of

    config = TrainConfig(num_workers=workers)
    out = work / f"{source}-{way}-{n}"
    out.mkdir()
    cfg = {"train_config": config.model_dump(mode="json"), "way": way, "out": str(out)}
    data = {}
    if source == "stage":
        stage = StageRowsInput(write_stage(work / f"select-{n}-{way}", short_rows(n)), ("prompt", "completion"))
        cfg.update(rows_dataset=ROWS_DATASET, n_rows=n)
        data = stage.trainer_datasets()
    else:
        rows = validate_sft_rows(short_rows(n))
        cfg["rows"] = ray.put(rows) if way == "all" else [ray.put(part) for part in rank_rows_of(rows, config)]
        del rows
    trainer = TorchTrainer(rank_loop, train_loop_config=cfg, **data,
                           scaling_config=train_scaling("cpu", workers),
                           run_config=RunConfig(name=out.name, storage_path=str(work / "ray_train")))
    trainer.fit()
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(workers)]


def local_child(path: str, n: int, way: str, rank: int, world: int) -> None:
    import gc

    import pyarrow.parquet as pq

    from w2s_ray.train.sft import validate_sft_rows
    from w2s_ray.train.shards import split_rank_rows

    def batches():
        yield from pq.ParquetFile(path).iter_batches(batch_size=4096, columns=["prompt", "completion"])

    gc.collect()
    before = _status_mib("VmRSS")
    started = time.perf_counter()
    if way == "all":  # worker_rows before the shards
        rows = validate_sft_rows([row for batch in batches() for row in batch.to_pylist()])
    else:  # worker_rows now: validated a batch at a time, its shard kept
        def validated():
            first = 0
            for batch in batches():
                yield from validate_sft_rows(batch.to_pylist(), first)
                first += batch.num_rows
        rows = split_rank_rows(validated(), n, rank, world).train
    seconds = time.perf_counter() - started
    gc.collect()
    print(json.dumps({"rank": rank, "rows": len(rows), "before_mib": before, "after_mib": _status_mib("VmRSS"),
                      "hwm_mib": _status_mib("VmHWM"), "seconds": seconds}))


def measure_local(n: int, way: str, workers: int, work: Path) -> list[dict]:
    import subprocess
    import sys

    from w2s_ray.run.stage_io import write_stage

    path = work / f"local-{n}" / "data.parquet"
    if not path.exists():
        write_stage(path.parent, short_rows(n))
    ranks = []
    for rank in range(workers):
        out = subprocess.run([sys.executable, __file__, "--local-child", str(path), str(n), way, str(rank),
                              str(workers)], check=True, capture_output=True, text=True).stdout
        ranks.append(json.loads(out.strip().splitlines()[-1]))
    return ranks


def table(results: list[dict]) -> str:
    lines = [f"{'source':<6} {'rows':>8}  {'way':<5}  per rank: rows held, RSS held MiB, RSS peak MiB, seconds"]
    for r in results:
        ranks = "  |  ".join(f"r{f['rank']}: {f['rows']:>7,} {f['after_mib'] - f['before_mib']:>7.1f} "
                             f"{f['hwm_mib'] - f['before_mib']:>7.1f} {f['seconds']:>5.2f}s" for f in r["ranks"])
        lines.append(f"{r['source']:<6} {r['n']:>8,}  {r['way']:<5}  {ranks}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sources", nargs="+", choices=["stage", "list"], default=["stage", "list"])
    parser.add_argument("--local", action="store_true", help="no Ray: the stage's rows read in plain processes")
    parser.add_argument("--local-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.local_child:
        path, n, way, rank, world = args.local_child
        local_child(path, int(n), way, int(rank), int(world))
        return
    if args.local:
        results = []
        with tempfile.TemporaryDirectory(prefix="w2s-bench-ranks-") as work:
            for n in args.sizes:
                for way in ("all", "shard"):
                    results.append({"n": n, "source": "local", "way": way,
                                    "ranks": measure_local(n, way, args.workers, Path(work))})
                    print(json.dumps(results[-1]), flush=True)
        print(table(results))
        return

    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

    init_ray(num_cpus=2, log_to_driver=False)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="w2s-bench-ranks-") as work:
            for n in args.sizes:
                for source in args.sources:
                    for way in ("all", "shard"):
                        ranks = measure(n, source, way, args.workers, Path(work))
                        results.append({"n": n, "source": source, "way": way, "ranks": ranks})
                        print(json.dumps(results[-1]), flush=True)
    finally:
        shutdown_ray()
    print(table(results))


if __name__ == "__main__":
    main()
