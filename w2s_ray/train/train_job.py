"""Driver side of every training objective: one Ray Train TorchTrainer run, then atomic publishing.

The worker loop (e.g. sft_worker.sft_loop) reports its metrics and final model as a Ray Train
checkpoint; this module turns that into `out_dir` (weights, tokenizer, train_config.json,
metrics.json) in one rename, and returns what it wrote.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from w2s_ray.raycluster.devices import Device, train_scaling
from w2s_ray.run.progress import Poller, Progress, ProgressBoard
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.deepspeed_configs import resolve_deepspeed
from w2s_ray.train.early_stopping import holdout_of
from w2s_ray.train.publish import place_checkpoint, publish_dir, refuse_existing, write_json
from w2s_ray.train.shards import RankRows, split_rank_rows
from w2s_ray.train.worker_runtime import default_torch_extensions_dir

STORAGE_DIRNAME = ".ray_train"  # Ray Train's run state, beside out_dir rather than in ~/ray_results
ATTEMPTS_FILE = "w2s_attempts"
BOARD_POLL_S = 2.0  # how often the driver reads rank 0's progress (the lines themselves: run/progress.py)
ROWS_DATASET = "train"  # the name a stage's rows go to the workers under (Ray Train's datasets=)


class TrainResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_dir: str
    log_dir: str | None
    # loss_history [{step, loss}], final_train_loss, steps, samples, tokens (non-pad),
    # train_seconds (the HF training loop on rank 0, set-up excluded),
    # samples_per_second, tokens_per_second, wall_seconds (the whole Ray Train run),
    # first_step_seconds, step_seconds_median / _mean (the steps after the first; worker_loop.step_timer).
    metrics: dict


class TrainingFailed(RuntimeError):
    """A training run failed inside Ray Train; nothing was published."""


def count_restarts(attempts_file: Path) -> int:
    """Worker-group restarts of a finished run: attempts rank 0 started, less the one that finished."""
    try:
        return max(0, len(attempts_file.read_text().splitlines()) - 1)
    except OSError:
        return 0


def tensorboard_dir(out_dir: Path, log_dir: str | Path | None, logging: str) -> str | None:
    if logging == "none":
        return None
    return str(Path(log_dir) if log_dir else out_dir.parent / "tb" / out_dir.name)


@dataclass(frozen=True)
class StageRowsInput:
    """A stage's rows output (stage_io's record) as a training run's input: the workers read the
    `columns` of its files through Ray Train's `datasets=` (those the files have: an objective's
    optional fields may be absent, and a missing required one is its validator's error, with the row
    and the field); the driver reads none of its rows."""

    output: dict
    columns: tuple[str, ...]

    def files(self) -> list[str]:
        path = Path(self.output["path"])
        if self.output["kind"] == "parquet_dataset":
            return [str(path / f["name"]) for f in self.output["files"]]
        return [str(path)]

    def trainer_datasets(self) -> dict:
        """TorchTrainer's `datasets` and `dataset_config` for these rows. Not split by Ray Data: every
        worker streams all rows in the files' order and keeps its own shard (worker_loop.worker_rows),
        the same rows a list's shards would give it."""
        from ray.train import DataConfig

        options = DataConfig.default_ingest_options()
        options.preserve_order = True
        return {"datasets": {ROWS_DATASET: self.dataset()},
                "dataset_config": DataConfig(datasets_to_split=[], execution_options=options)}

    def dataset(self):
        """The rows as a Dataset, read now (its blocks in Ray's object store, not the driver): the
        read tasks run before the training workers hold the CPUs they would wait for."""
        import pyarrow.parquet as pq
        import ray

        files = self.files()
        present = set(pq.read_schema(files[0]).names)  # the footer only; every file has the same schema
        columns = [c for c in self.columns if c in present]
        if not columns:
            raise ValueError(f"{self.output['path']} has none of the columns training reads "
                             f"({', '.join(self.columns)})")
        return ray.data.read_parquet(files).select_columns(columns).materialize()


def rank_rows_of(rows: list[dict], config: TrainConfig) -> list[RankRows]:
    """Each rank's rows of a validated list, in rank order: early stopping's holdout taken first."""
    held, n_held = None, 0
    if config.early_stopping is not None:
        held, n_held = holdout_of((row["prompt"] for row in rows), config.early_stopping.holdout, config.seed)
    return [split_rank_rows(rows, len(rows), rank, config.num_workers, held, n_held)
            for rank in range(config.num_workers)]


def rows_digest(rows: list[dict]) -> str:
    """Content hash of the training rows, for train_config.json: which data made this model."""
    canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


@contextlib.contextmanager
def _sigint_restored():
    """Ray Train's fit() installs a Ctrl-C handler (abort this training run) and never removes it:
    a later Ctrl-C, in another stage or in `w2s run --serve`'s serving, would go to a finished run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        if previous is not None:  # None: a handler set outside Python, which cannot be put back
            signal.signal(signal.SIGINT, previous)


def _show_progress(board, progress: Progress) -> None:
    import ray

    state = ray.get(board.get.remote(), timeout=BOARD_POLL_S * 5)
    if state.get("step"):
        progress.update(state["step"], total=state.get("total"), loss=state.get("loss"))


def run_train_job(
    loop: Callable[[dict], None],
    rows: list[dict] | StageRowsInput,
    base_model_dir: str | Path,
    config: TrainConfig,
    device: Device,
    out_dir: str | Path,
    provenance: dict | None = None,
    log_dir: str | Path | None = None,
    overwrite: bool = False,
    label: str | None = None,
) -> TrainResult:
    """Run `loop` on config.num_workers Ray Train workers over the (validated) rows, starting from
    base_model_dir, and publish its model to out_dir. Each rank trains on its shard (train/shards.py):
    of a list, the driver puts each rank's shard in the object store; of a StageRowsInput (verified
    here), each worker reads, validates and keeps its own (worker_loop.worker_rows).

    train_config.json records the config, the base model, the rows' count and hash (of a stage's
    rows: its files' recorded sha256, first 16 hex), and `provenance`.
    `label` names the run in its progress lines (default: out_dir's last two parts).
    """
    out_dir = Path(out_dir).resolve()
    refuse_existing(out_dir, overwrite)  # now, not after an hour of training
    if isinstance(rows, StageRowsInput):
        from w2s_ray.run.stage_io import verify_output

        verify_output(rows.output)  # streamed, a file at a time: the rows are not read here
        if not rows.output["rows"]:
            raise ValueError(f"no rows to train on: {rows.output['path']} has none")
    base_model_dir = str(Path(base_model_dir).resolve())
    if not (Path(base_model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{base_model_dir} is not a model directory (no config.json)")
    # Only now: bad input fails without touching Ray, and ray must not be imported before init_ray().
    import ray
    from ray.train import FailureConfig, RunConfig
    from ray.train.torch import TorchTrainer

    # Imported here, not at the top: it imports ray, and ray imported before init_ray() reads
    # its settings too early and its workers listen on all interfaces (measured).
    from w2s_ray.train.loopback_rendezvous import LoopbackTorchConfig

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tb_dir = tensorboard_dir(out_dir, log_dir, config.logging)
    streamed = isinstance(rows, StageRowsInput)
    provenance = {"base_model_dir": base_model_dir, "objective": config.objective,
                  "n_rows": rows.output["rows"] if streamed else len(rows),
                  "rows_sha256": rows.output["sha256"][:16] if streamed else rows_digest(rows), **(provenance or {})}
    loop_config = {
        # A stage's rows: a Dataset each worker reads (get_dataset_shard); a list: each rank's shard as
        # one object in Ray's store, not a copy inside each worker's pickled config.
        **({"rows_dataset": ROWS_DATASET, "n_rows": rows.output["rows"]} if streamed
           else {"rows": [ray.put(part) for part in rank_rows_of(rows, config)]}),
        "base_model_dir": base_model_dir,
        "train_config": config.model_dump(mode="json"),
        "device": device,
        "deepspeed": resolve_deepspeed(config.deepspeed, device),
        # The driver's choice, so workers on this machine share one compiled-op cache.
        "torch_extensions_dir": default_torch_extensions_dir(),
        "tensorboard_dir": tb_dir,
        "report_to": config.trackers(tb_dir) or "none",
    }
    # Rank 0 writes its step and loss here; the driver prints them as the run goes (run/progress.py).
    board = ray.remote(ProgressBoard).options(num_cpus=0).remote()
    loop_config["progress_board"] = board
    storage = out_dir.parent / STORAGE_DIRNAME
    run_name = f"{out_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    # Rank 0 adds a line per attempt: Ray Train's result does not say how often it restarted.
    loop_config["attempts_file"] = str(storage / run_name / ATTEMPTS_FILE)
    data = rows.trainer_datasets() if streamed else {}
    trainer = TorchTrainer(
        loop,
        train_loop_config=loop_config,
        **data,
        torch_config=LoopbackTorchConfig(),
        scaling_config=train_scaling(device, config.num_workers, config.cpus_per_worker, config.gpus_per_worker),
        run_config=RunConfig(
            name=run_name,
            storage_path=str(storage),
            # A dead worker (killed, OOM) restarts the worker group, which trains again from the base
            # model: the final model is the only checkpoint, so there is nothing to resume from.
            failure_config=FailureConfig(max_failures=config.max_failures),
        ),
    )
    started = time.perf_counter()
    progress = Progress(f"train {label or f'{out_dir.parent.name}/{out_dir.name}'}", total=0, unit="steps")
    try:
        with _sigint_restored(), Poller(lambda: _show_progress(board, progress), min(BOARD_POLL_S, progress.every_s)):
            result = trainer.fit()
    except Exception as err:  # Ray Train wraps the worker's exception; keep its message visible
        raise TrainingFailed(f"training for {out_dir} failed: {err}") from err
    finally:
        ray.kill(board)
    progress.finish(result.metrics.get("steps", progress.done), loss=result.metrics.get("final_train_loss"))
    if result.checkpoint is None:
        raise TrainingFailed(f"training for {out_dir} finished without reporting a model")
    metrics = {**result.metrics, "wall_seconds": time.perf_counter() - started,
               "restarts": count_restarts(Path(loop_config["attempts_file"]))}

    def fill(staging: Path) -> None:
        place_checkpoint(result.checkpoint, staging)
        write_json(staging / "train_config.json", {
            "config": config.model_dump(mode="json"),
            "device": device,
            "deepspeed": loop_config["deepspeed"],
            "gradient_checkpointing": config.checkpointing(device),  # what `auto` was on this device
            "num_workers": config.num_workers,
            "ray_version": ray.__version__,
            **provenance,
        })
        write_json(staging / "metrics.json", metrics)

    publish_dir(out_dir, fill, overwrite=overwrite)
    # The checkpoint has moved out; what is left is Ray Train's bookkeeping for this run. A failed
    # run keeps its directory for inspection (and any checkpoint it reported).
    shutil.rmtree(storage / run_name, ignore_errors=True)
    with contextlib.suppress(OSError):  # another run may still be using it
        storage.rmdir()
    return TrainResult(model_dir=str(out_dir), log_dir=tb_dir, metrics=metrics)
