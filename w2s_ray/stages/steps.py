"""Stage bodies recipes compose. Each runs under `run_stage`, which skips it when the manifest says it
finished (after verifying its outputs) and records it when it does.

A generate stage's rows live in RUN_DIR/<stage key>/rows/ (many parquet files, written by the Ray
workers: run/stage_dataset.py), so do a selection's made in Ray Data (stages/select_data.py); a
selection made in the driver (`select`) writes RUN_DIR/<stage key>/data.parquet, a checkpoint
RUN_DIR/<stage key>/model. `stage_rows` reads either kind, rows in the same order.
A recipe passes `tag` (stage_tags.Tag) for the stages a reader of the run looks for (a baseline, a
student's eval, its train and select stages); it is recorded with the stage in the manifest.
"""
from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from w2s_ray.config import TeacherConfig
from w2s_ray.config.base import hash_exclude
from w2s_ray.eval.accuracy import ACCURACY_COLUMNS, accuracy_by_model
from w2s_ray.generate.stage import generate
from w2s_ray.run.context import RunContext
from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.progress import Progress
from w2s_ray.run.stage_dataset import write_dataset
from w2s_ray.run.stage_io import describe_checkpoint, iter_output_columns, read_output, write_stage
from w2s_ray.run.stage_tags import Tag
from w2s_ray.score.stage import score_dataset, scorers_fit_now
from w2s_ray.select import Selection
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.objectives import train_objective


ROW_ORDER = ("problem_id", "sample_index")  # a generate stage's rows, as stage_rows hands them back


class EmptyTrainingSet(RuntimeError):
    """A selection kept nothing: the run stops rather than train on nothing."""


def _log(message: str) -> None:
    print(f"[w2s] {message}", file=sys.stderr, flush=True)


def stage_rows(result: StageResult, name: str = "rows") -> list[dict]:
    """The rows a (possibly resumed) stage wrote, verified against its record."""
    return read_output(result.output(name))


class UpstreamRows(Mapping[str, list[dict]]):
    """The rows of the stages a selection reads, by the names its stage records them under as inputs:
    a selection reads nothing it did not declare. Each stage's rows are read (and verified) once,
    when first asked for, so a resumed selection reads none."""

    def __init__(self, upstream: Mapping[str, StageResult]):
        self._upstream, self._rows = dict(upstream), {}

    def __getitem__(self, name: str) -> list[dict]:
        if name not in self._upstream:
            raise KeyError(f"{name!r} is not an upstream stage of this selection; it reads {sorted(self._upstream)}")
        if name not in self._rows:
            self._rows[name] = stage_rows(self._upstream[name])
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._upstream)

    def __len__(self) -> int:
        return len(self._upstream)

    def joined(self, names: Iterable[str]) -> list[dict]:
        """The rows of several stages (each weak teacher's, say), one after the other in `names`' order."""
        return [row for name in names for row in self[name]]


Model = str | StageResult  # a model name or path, or the training stage that wrote the checkpoint


def model_name(model: Model) -> str:
    """The model's name, or the path of the checkpoint a training stage wrote."""
    return checkpoint_path(model) if isinstance(model, StageResult) else model


def checkpoint_of(model: Model) -> dict[str, StageResult]:
    """The training stage a model comes from, as the upstream input "checkpoint" (none for a named model)."""
    return {"checkpoint": model} if isinstance(model, StageResult) else {}


def generate_and_score(ctx: RunContext, key: str, teacher: TeacherConfig, model: Model,
                       problems: Sequence[dict], demo_pool: Sequence[dict] | None = None,
                       upstream: Mapping[str, StageResult] | None = None, settings: Mapping[str, str] | None = None,
                       tag: Tag | None = None) -> StageResult:
    """`teacher` answers `problems` with `model` (a trained stage's checkpoint is an input of its own);
    `upstream`: the stages `problems` or `demo_pool` were made from, `settings` anything else they
    depend on."""
    checkpoint, model = checkpoint_of(model), model_name(model)

    def body() -> StageResult:
        _log(f"{key}: {teacher.name} on {len(problems)} problems")
        ds, gen = generate(problems, teacher, ctx.model_path(model), ctx.device, demo_pool,
                           ctx.config.answer_markers, engines=ctx.engines)
        start = time.perf_counter()
        # The stage's own scorers (its teacher's, or eval.scorers for an eval), else the run's.
        specs = ctx.config.scorers if teacher.scorers is None else teacher.scorers
        if ctx.engines.pool is not None and not scorers_fit_now(specs):  # engines stay up only where they leave room
            ctx.engines.release()
        # The scorers' rows go from their actors to the stage's files; the driver never holds them, and
        # counts them in the files as they are finished (a live line for a long stage).
        progress = Progress(f"score {key}", gen.rows)
        output = write_dataset(ctx.stage_dir(key), score_dataset(ds, specs), order=ROW_ORDER, progress=progress)
        progress.finish(output["rows"])
        if output["rows"] != gen.rows:  # scorers keep every row: fewer means files the driver cannot see
            raise RuntimeError(f"{key}: {gen.rows} rows generated but {output['rows']} in {output['path']}: a worker "
                               f"on another node wrote its files where this driver cannot read them (the run "
                               f"directory must be shared by every node, as Ray Train's storage is)")
        score_seconds = time.perf_counter() - start
        metrics = {
            "generate": {"engine": gen.engine, "seconds": gen.seconds, "startup_seconds": gen.startup_seconds,
                         "generated_tokens": gen.generated_tokens, "tokens_per_s": gen.tokens_per_s},
            "score": {"seconds": score_seconds,
                      "rows_per_s": output["rows"] / score_seconds if score_seconds else 0},
        }
        accuracy = accuracy_by_model(iter_output_columns(output, ACCURACY_COLUMNS)).get(teacher.name)
        if accuracy is not None:
            metrics["accuracy"] = accuracy
        return StageResult(outputs={"rows": output}, rows_in=len(problems) * teacher.n,
                           rows_out=output["rows"], metrics=metrics)

    # Files can be edited under the same path: their content is an input (the world is in the config).
    data = {"data": ctx.data_stats["data_hash"]} if ctx.config.data.source == "files" else {}
    return run_stage(ctx.manifest, key, body, inputs={"model": model, **data, **(settings or {})},
                     upstream={**checkpoint, **(upstream or {})}, tag=tag)


def select(ctx: RunContext, key: str, make_selection: Callable[[UpstreamRows], Selection],
           upstream: Mapping[str, StageResult] | None = None, settings: Mapping[str, str] | None = None,
           tag: Tag | None = None) -> StageResult:
    """A selection stage: `make_selection` gets the rows of `upstream` (by name) and nothing else, and
    the stage's inputs are those stages' hashes and `settings`, so what it reads is what it declares."""
    upstream = dict(upstream or {})

    def body() -> StageResult:
        selection: Selection = make_selection(UpstreamRows(upstream))
        if not selection.rows:
            message = (f"{key}: the selection kept no rows of {selection.n_in} {selection.unit}s "
                       f"(dropped: {selection.dropped}); refusing to train on nothing")
            ctx.manifest.fail(key, message, rows_in=selection.n_in, dropped=dict(selection.dropped),
                              by_teacher=selection.by_teacher)
            raise EmptyTrainingSet(message)
        _log(f"{key}: kept {selection.kept} of {selection.n_in} ({selection.dropped})")
        return StageResult(outputs={"rows": write_stage(ctx.stage_dir(key), selection.rows)},
                           rows_in=selection.n_in, rows_out=len(selection.rows),
                           dropped=dict(selection.dropped), metrics=selection.stats())

    return run_stage(ctx.manifest, key, body, inputs=settings, upstream=upstream, tag=tag)


def train(ctx: RunContext, key: str, rows_result: StageResult, base_model: Model,
          config: TrainConfig | None = None, tag: Tag | None = None, keep_engines: bool | None = None) -> StageResult:
    """Train with the objective config.objective names (train/objectives/: SFT on prompt-completion
    rows, DPO / ORPO on preference rows, reward models on labelled rows, ...) from `base_model`
    (a trained stage's checkpoint continues it). `keep_engines`: the caller knows the training fits
    beside the live engines (an RL loop that loads the new weights into them afterwards); None: as
    `train.keep_engines` says."""
    config = config or ctx.config.train
    if keep_engines is None:
        keep_engines = config.keep_engines
    base_model = model_name(base_model)  # an input by its path

    def body() -> StageResult:
        # The rows' record, not the rows: an objective that can reads them in its workers (Ray
        # Train's datasets=), the others in the driver (train_objective); both verify the files.
        rows = rows_result.output("rows")
        out = ctx.stage_dir(key) / "model"
        if not keep_engines:
            ctx.engines.release()  # training needs the CPUs / GPUs the last stages' engines held
        _log(f"{key}: {config.objective.upper()} on {rows['rows']} rows from {base_model}")
        # An earlier attempt may have published `out` and died before the manifest recorded it:
        # unrecorded work is not a finished stage, so it is redone.
        result = train_objective(rows, ctx.model_path(base_model), out, config, ctx.device,
                         log_dir=ctx.run_dir / "tensorboard" / key.replace("/", "_"), overwrite=True, label=key)
        return StageResult(outputs={"model": describe_checkpoint(out)}, rows_in=rows["rows"],
                           rows_out=rows["rows"], metrics=result.metrics)

    inputs = {"base_model": base_model}
    if config != ctx.config.train:  # a stage's own settings are part of what it depends on
        # The config hash's rule (config/base.py), but for the two fields this input has held since
        # it was first recorded.
        exclude = hash_exclude(config, hashed_always={"gpus_per_worker", "report_to"})
        inputs["train_config"] = hashlib.sha256(config.model_dump_json(exclude=exclude).encode()).hexdigest()[:16]
    return run_stage(ctx.manifest, key, body, inputs=inputs, upstream={"rows": rows_result}, tag=tag)


def checkpoint_path(result: StageResult) -> str:
    return str(result.output("model")["path"])
