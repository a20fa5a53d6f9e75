"""Selections as Ray Data operations: a selection stage whose rows never pass through the driver.

    take-all           a map over batches of the weak rows (take_all reads one row at a time)
    consistency filter the weak and strong rows joined on problem_id: one group per problem holding both
                       sides (a union, then groupby("problem_id").map_groups), so a problem missing from
                       either side is still seen and accounted, as a full outer join would see it
    preference pairs   the student's samples and the weak solutions, grouped on problem_id the same way

Each group (or batch) runs the list function of w2s_ray/select/ on its rows (select/grouped.py). Its
output rows come back as a table with three columns more: the row's canonical JSON (for the hash the
list path records), its rank in its group (the list path's order within a problem) and, on one extra
row per group, the group's accounting as JSON. The accounting is added up per block in the workers
and the blocks' sums in the driver (a few hundred small dicts, whatever the row count); the rows are
sorted as Selection sorts them, hashed one batch of JSON strings at a time, and written by the
workers as a stage dataset (run/stage_dataset.py) that training reads through Ray Train's datasets=.

Only the columns the selection functions read (GENERATION_COLUMNS_READ) are read from the upstream
files: gold labels never reach a selection worker.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from w2s_ray.run.manifest import StageResult, run_stage
from w2s_ray.run.shuffle import group_by, in_order, parquet_bytes, sort_by
from w2s_ray.run.stage_dataset import write_dataset
from w2s_ray.run.stage_io import verify_output
from w2s_ray.select.grouped import (SIDE, CanonicalHash, SelectionSummary, account, add_accounts,
                                    check_preference_args, consistency_piece, preference_piece, row_json,
                                    summarize, take_all_piece)
from w2s_ray.select.selection import GENERATION_COLUMNS_READ

if TYPE_CHECKING:  # the workers import this module for its pieces: not the stages' (torch, vLLM) imports
    from w2s_ray.run.context import RunContext
    from w2s_ray.run.stage_tags import Tag

_S, _I, _F = pa.string(), pa.int64(), pa.float64()
GENERATION_SCHEMA = pa.schema([("problem_id", _S), ("model", _S), ("role", _S), ("sample_index", _I),
                               ("question", _S), ("text", _S), ("answer", _S), ("level", _I)])
SFT_SCHEMA = pa.schema([("problem_id", _S), ("prompt", _S), ("completion", _S), ("source_model", _S),
                        ("role", _S), ("sample_index", _I), ("level", _I), ("answer", _S)])
PREFERENCE_SCHEMA = pa.schema([("problem_id", _S), ("prompt", _S), ("chosen", _S), ("rejected", _S),
                               ("source_model", _S), ("level", _I), ("confidence", _F), ("top_answer", _S),
                               ("case", _S), ("chosen_source", _S), ("rejected_source", _S),
                               ("chosen_answer", _S), ("rejected_answer", _S)])
JSON, RANK, ACCOUNT = "_json", "_rank", "_account"


@dataclass
class DataSelection:
    """A selection planned over Ray Datasets, run by `run_selection`. `kind`: a key of select/grouped's
    UNITS; `sides`: the input datasets by the SIDE name the piece function tells them apart by."""

    kind: str
    sides: dict[str, Any]
    schema: pa.Schema
    order: tuple[str, ...]  # the columns the written rows are sorted by, and read back sorted by
    settings: dict = field(default_factory=dict)
    # A map's own piece function (a recipe's, module level: the workers unpickle it) in place of
    # PIECES[kind], the columns it reads (the input's schema), and what its Selection adds to stats().
    piece: Callable | None = None
    input_schema: pa.Schema = GENERATION_SCHEMA
    extra: dict = field(default_factory=dict)


def map_data(kind: str, rows: StageData, piece: Callable, input_schema: pa.Schema, schema: pa.Schema,
             order: tuple[str, ...], extra: Mapping | None = None) -> DataSelection:
    """A selection that reads one row at a time (step labels, LightReasoner's steps) as a map over
    batches of `rows`: `piece(rows) -> Selection` on each batch; `kind` a key of select/grouped.UNITS.
    `order` must be the order Selection sorts the rows in (sort_key's columns, then any column that
    orders a row's several outputs)."""
    return DataSelection(kind, {"rows": rows}, schema, tuple(order), piece=piece, input_schema=input_schema,
                         extra=dict(extra or {}))


def take_all_data(weak) -> DataSelection:
    """take_all over the weak rows' dataset (UpstreamData.joined)."""
    return DataSelection("take_all", {"weak": weak}, SFT_SCHEMA, ("problem_id", "source_model", "sample_index"))


def consistency_data(weak, strong) -> DataSelection:
    """consistency_filter over the weak and strong datasets, joined on problem_id."""
    return DataSelection("consistency", {"weak": weak, "strong": strong}, SFT_SCHEMA,
                         ("problem_id", "source_model", "sample_index"))


def preference_data(student, weak, **settings) -> DataSelection:
    """build_preference_pairs over the student's samples and the weak solutions, joined on problem_id.
    Pairs of one (problem, teacher) keep the list function's order (max_pairs > 1): the rows are
    written in that order and read back by a stable sort on `order`."""
    check_preference_args(settings.get("min_confidence", 0.6), settings.get("flip_confidence", 0.8),
                          settings.get("max_pairs", 1))
    return DataSelection("preference", {"student": student, "weak": weak}, PREFERENCE_SCHEMA,
                         ("problem_id", "source_model"), dict(settings))


class StageData:
    """One upstream stage's rows as a lazy Ray Dataset of the columns a selection reads, verified
    against its record first (streamed, a file at a time); `rows` from the record."""

    def __init__(self, outputs: Iterable[dict], problem_ids: Iterable[str] | None = None):
        self.outputs = list(outputs)
        self.rows = sum(o["rows"] for o in self.outputs)
        self.problem_ids = None if problem_ids is None else sorted(problem_ids)
        self._verified = False  # a report reads one stage several ways: its files are hashed once

    def problems(self, problem_ids: Iterable[str]) -> StageData:
        """Only the rows of these problems (a few thousand questions' ids, not rows)."""
        return StageData(self.outputs, problem_ids)

    @classmethod
    def of(cls, result: StageResult, name: str = "rows") -> StageData:
        """A stage's output as its StageData (a recipe's report reading a stage's rows in Ray Data)."""
        return cls([result.output(name)])

    def files(self) -> list[str]:
        """The stages' parquet files, verified against their records (the first time only)."""
        files = []
        for output in self.outputs:
            if not self._verified:
                verify_output(output)
            path = output["path"]
            files += ([f"{path}/{f['name']}" for f in output["files"]] if output["kind"] == "parquet_dataset"
                      else [path])
        self._verified = True
        return files

    def dataset(self, side: str, schema: pa.Schema = GENERATION_SCHEMA):
        """The rows as a Dataset of `schema`'s columns (a column the files lack is null), tagged `side`."""
        import ray
        import pyarrow.parquet as pq

        files = self.files()
        if not files:
            return None
        if schema is GENERATION_SCHEMA:
            columns = list(GENERATION_COLUMNS_READ)
        else:  # only the columns the files have (a scorer's column is absent where it did not run)
            present = set().union(*(pq.read_schema(f).names for f in files))
            columns = [f.name for f in schema if f.name in present]
        return ray.data.read_parquet(files).select_columns(columns).map_batches(
            _Conform(side, self.problem_ids, schema), batch_format="pyarrow")


class UpstreamData(Mapping[str, StageData]):
    """The stages a data selection reads, by name (steps.UpstreamRows' contract: nothing undeclared)."""

    def __init__(self, upstream: Mapping[str, StageResult]):
        self._upstream = dict(upstream)

    def __getitem__(self, name: str) -> StageData:
        if name not in self._upstream:
            raise KeyError(f"{name!r} is not an upstream stage of this selection; it reads {sorted(self._upstream)}")
        return StageData([self._upstream[name].output("rows")])

    def __iter__(self) -> Iterator[str]:
        return iter(self._upstream)

    def __len__(self) -> int:
        return len(self._upstream)

    def joined(self, names: Iterable[str]) -> StageData:
        """Several stages' rows (each weak teacher's, say) as one input."""
        return StageData([self._upstream[n].output("rows") for n in names])


class _Conform:
    """Every input block to one schema and tagged with its side: the sides are unioned, and a column
    that is all null in one file (level) must not be null-typed in one block and int64 in the next."""

    def __init__(self, side: str, problem_ids: list[str] | None = None, schema: pa.Schema = GENERATION_SCHEMA):
        self.side, self.problem_ids, self.schema = side, problem_ids, schema

    def __call__(self, table: pa.Table) -> pa.Table:
        if self.problem_ids is not None:
            import pyarrow.compute as pc

            table = table.filter(pc.is_in(table["problem_id"].cast(_S), value_set=pa.array(self.problem_ids, _S)))
        columns = {f.name: table[f.name].cast(f.type) if f.name in table.column_names
                   else pa.nulls(table.num_rows, f.type) for f in self.schema}
        return pa.table({**columns, SIDE: pa.array([self.side] * table.num_rows, _S)})


PIECES: dict[str, Callable] = {"take_all": take_all_piece, "consistency": consistency_piece,
                               "preference": preference_piece}
GROUPED = ("consistency", "preference")  # a group-by on problem_id; any other kind is a map


def _piece_table(table: pa.Table, piece: Callable, schema: pa.Schema, settings: dict) -> pa.Table:
    """A group's (or batch's) rows -> its selected rows, their JSON and rank, and one accounting row."""
    rows = table.to_pylist()
    selection = piece(rows, **settings)
    out = selection.rows if selection is not None else []
    columns = {f.name: pa.array([r[f.name] for r in out] + [None], f.type) for f in schema}
    return pa.table({**columns, JSON: pa.array([row_json(r) for r in out] + [None], _S),
                     RANK: pa.array([*range(len(out)), None], _I),
                     ACCOUNT: pa.array([None] * len(out) + [json.dumps(account(selection, rows))], _S)})


def _block_account(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    accounts = table.filter(pc.is_valid(table[ACCOUNT]))[ACCOUNT].to_pylist()
    return pa.table({ACCOUNT: [json.dumps(add_accounts(json.loads(a) for a in accounts))]})


def _rows_only(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.is_null(table[ACCOUNT])).drop_columns([ACCOUNT])


def run_selection(plan: DataSelection):
    """The selected rows as a materialized, sorted Dataset (the output columns only) and their summary."""
    import ray

    sides = [ds for ds in (data.dataset(side, plan.input_schema) for side, data in plan.sides.items())
             if ds is not None]
    pieces = functools.partial(_piece_table, piece=plan.piece or PIECES[plan.kind], schema=plan.schema,
                               settings=plan.settings)
    if not sides:
        return None, summarize(plan.kind, {}, 0, CanonicalHash().hexdigest(), plan.extra)
    data = in_order(sides[0].union(*sides[1:]) if len(sides) > 1 else sides[0])
    if plan.kind not in GROUPED:  # a map: each row on its own, Selection's order by columns
        out = data.map_batches(pieces, batch_format="pyarrow")
        sort = list(plan.order)
    else:  # Ray Data's hash shuffle, in as many partitions as the inputs' size asks (run/shuffle.py)
        nbytes = sum(parquet_bytes(side.files()) for side in plan.sides.values())
        out = group_by(data, "problem_id", nbytes).map_groups(pieces, batch_format="pyarrow")
        sort = ["problem_id", RANK]  # a problem's rows in its group's (Selection's) order
    out = out.materialize()
    total = add_accounts(json.loads(r[ACCOUNT]) for r in
                         out.map_batches(_block_account, batch_format="pyarrow", batch_size=None).take_all())
    rows = sort_by(out.map_batches(_rows_only, batch_format="pyarrow", batch_size=None), sort,
                   out.size_bytes()).materialize()
    # One task reads the rows in order for the hash (a sequence, so one reader): the blocks it
    # reads are mapped into its memory, not the driver's.
    digest = ray.get(ray.remote(num_cpus=0.5)(_digest_rows).remote(rows, plan.kind))
    summary = summarize(plan.kind, total, rows.count(), digest, plan.extra)
    return rows.drop_columns([JSON, RANK]), summary


def _digest_rows(rows, kind: str) -> str:
    """Selection.sha256 of the sorted rows, a batch of their JSON at a time (and take-all's duplicates)."""
    digest, duplicates = CanonicalHash(), _Duplicates(kind)
    for batch in in_order(rows).iter_batches(batch_format="pyarrow", batch_size=4096):
        for text in batch[JSON].to_pylist():
            digest.update(text)
        duplicates.check(batch)
    return digest.hexdigest()


class _Duplicates:
    """take_all as a map sees a batch at a time: a row repeated across batches (a double write
    upstream, which the list function refuses) is found here, next to its twin in the sorted rows."""

    def __init__(self, kind: str):
        self.kind, self.last = kind, None

    def check(self, batch: pa.Table) -> None:
        if self.kind != "take_all":
            return
        keys = zip(batch["source_model"].to_pylist(), batch["problem_id"].to_pylist(),
                   batch["sample_index"].to_pylist())
        for key in keys:
            if key == self.last:
                model, pid, index = key
                raise ValueError(f"duplicate generation rows for {{'model': {model!r}, 'problem_id': {pid!r}}} "
                                 f"sample_index {index}")
            self.last = key


def select_data(ctx: RunContext, key: str, make_selection: Callable[[UpstreamData], DataSelection],
                upstream: Mapping[str, StageResult] | None = None, settings: Mapping[str, str] | None = None,
                tag: Tag | None = None) -> StageResult:
    """steps.select, with the rows in Ray Data: `make_selection` plans over the upstream stages'
    datasets; the workers select and write; the driver keeps the accounting and the hash."""
    from w2s_ray.stages.steps import EmptyTrainingSet, _log

    upstream = dict(upstream or {})

    def body() -> StageResult:
        plan = make_selection(UpstreamData(upstream))
        rows, summary = run_selection(plan)
        if not summary.rows_out:
            message = (f"{key}: the selection kept no rows of {summary.n_in} {summary.unit}s "
                       f"(dropped: {summary.dropped}); refusing to train on nothing")
            ctx.manifest.fail(key, message, rows_in=summary.n_in, dropped=dict(summary.dropped),
                              by_teacher=summary.by_teacher)
            raise EmptyTrainingSet(message)
        _log(f"{key}: kept {summary.kept} of {summary.n_in} ({summary.dropped})")
        output = write_dataset(ctx.stage_dir(key), in_order(rows), order=plan.order)
        return StageResult(outputs={"rows": output}, rows_in=summary.n_in, rows_out=summary.rows_out,
                           dropped=dict(summary.dropped), metrics=summary.stats())

    return run_stage(ctx.manifest, key, body, inputs=settings, upstream=upstream, tag=tag)


__all__ = ["DataSelection", "SelectionSummary", "StageData", "UpstreamData", "consistency_data", "map_data",
           "preference_data", "run_selection", "select_data", "take_all_data"]
