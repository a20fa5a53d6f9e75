"""Training objectives by name, as scorers are registered by name: what TrainConfig.objective runs.

The whole contract is one call, in a module of this package:

    register_objective("sft", loop=sft_loop, rows=validate_sft_rows)

  loop  the Ray Train worker entry point, `loop(loop_config: dict) -> None`, with loop_config as
        train_job.run_train_job builds it; worker_loop.run_worker(loop_config, build_trainer, measure)
        does everything objectives share (process setup, LoRA, ZeRO, merge, publish), so a loop is
        usually one line around a function that builds its TRL trainer. A module-level function:
        Ray pickles it by reference to its module.
  rows  a stage's rows -> the training rows, validated (a ValueError naming the first bad row and
        field) and reduced to the fields the trainer reads: `rows(rows, first=0)`, `first` the number
        of rows[0] among all rows (a worker validates a stage's rows a batch at a time); 1:1 and in
        order. Of a list, it runs in the driver, before Ray Train.
  columns  the columns `rows` reads (an optional field too: those a stage's files lack are left out).
        An objective that names them is handed a stage's rows as a Ray Dataset over its files (Ray
        Train's `datasets=`, read by each worker through get_dataset_shard), never through the
        driver; `rows` then runs in each worker. Each rank trains on its own shard (train/shards.py).

Every module of this package is imported before a name is looked up, so a new objective (say
`soft_kl`) registers itself by being a file here: no list elsewhere names it, and TrainConfig accepts
its name from then on.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from w2s_ray.registry import Registry

Loop = Callable[[dict], None]
Rows = Callable[[Sequence[dict]], list[dict]]


@dataclass(frozen=True)
class Objective:
    name: str
    loop: Loop
    rows: Rows
    columns: tuple[str, ...] = ()


# The same module imported twice (Ray workers, reloads) re-registers the same functions: harmless.
OBJECTIVES: Registry[Objective] = Registry(
    "training objective", (__name__,), error=ValueError,
    origin=lambda objective: f"{objective.loop.__module__}.{objective.loop.__qualname__}")


def register_objective(name: str, *, loop: Loop, rows: Rows, columns: Sequence[str] = ()) -> Objective:
    """Make `name` a training objective: `loop` trains on Ray Train workers, `rows` validates its data
    (`columns`: those it reads, for a stage's rows streamed to the workers)."""
    if not callable(loop) or not callable(rows):
        raise TypeError(f"objective {name!r}: loop and rows must be functions")
    return OBJECTIVES.add(name, Objective(name, loop, rows, tuple(columns)))


def get_objective(name: str) -> Objective:
    return OBJECTIVES.get(name)


def train_objective(rows: Sequence[dict] | Mapping, base_model_dir: str | Path, out_dir: str | Path, config,
                    device: str = "cpu", log_dir: str | Path | None = None, overwrite: bool = False,
                    label: str | None = None):
    """Train with config.objective's loop on its validated rows; publish the model at out_dir
    (train_job.run_train_job: complete or not at all). Ray must be initialised. `label`: the run's
    name for it in progress lines (its stage key). `rows`: the rows, or a stage's rows output as the
    manifest records it (stage_io), which an objective with `columns` reads in its workers."""
    from w2s_ray.run.stage_io import read_output
    from w2s_ray.train.train_job import StageRowsInput, run_train_job

    objective = get_objective(config.objective)
    if isinstance(rows, Mapping):
        if objective.columns:
            return run_train_job(objective.loop, StageRowsInput(dict(rows), objective.columns), base_model_dir,
                                 config, device, out_dir, log_dir=log_dir, overwrite=overwrite, label=label)
        rows = read_output(rows)
    clean = objective.rows(rows)
    return run_train_job(objective.loop, clean, base_model_dir, config, device, out_dir, log_dir=log_dir,
                         overwrite=overwrite, label=label)
