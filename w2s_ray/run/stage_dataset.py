"""A stage's rows as a parquet dataset of many files, written by the Ray workers that made them.

The driver never holds the rows: `write_dataset` runs Ray Data's parquet writer (each write task
writes its own file from the blocks it holds) and the driver only lists, sizes and hashes the files
it finds (streamed, 1 MiB at a time). The record the manifest keeps:

  parquet_dataset  {kind, path, rows, bytes, sha256, files: [{name, rows, bytes, sha256}], order}

`path` is RUN_DIR/.../STAGE/rows (a directory), `sha256` a hash over the file list (names, row
counts and each file's hash), `order` the columns the rows are read back sorted by (the writers'
order is whatever order their blocks finished in).

A kill mid-write leaves the stage unrecorded: the workers write into a fresh staging directory
beside `rows`, which is renamed to `rows` only when the writer has returned and every file is
fsynced; the stage is recorded after that. A staging directory a killed attempt left is removed by
the next. On resume every file is checked against its record (missing, truncated, changed in
place, wrong row count), and a parquet file in `rows` that the record does not list is refused too:
a reader of the directory would read it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from w2s_ray.run.atomic_file import fsync_dir
from w2s_ray.run.progress import Poller
from w2s_ray.run.stage_io import CorruptStageError, file_sha256, verify_file

KIND = "parquet_dataset"
ROWS_DIR = "rows"
STAGING_PREFIX = f".{ROWS_DIR}.staging-"
SUFFIX = ".parquet"


def write_dataset(stage_dir: str | Path, ds, order: Sequence[str] = (), progress=None) -> dict[str, Any]:
    """Execute the Ray Dataset `ds` and write its rows to stage_dir/rows/ from the workers; return
    the output record. `order`: columns a reader sorts the rows by (stage_rows does). `progress`
    (run/progress.Progress): updated while the workers write, from the rows in the files they finished
    (the rows never reach the driver, so the files are what it can count)."""
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    for stale in stage_dir.glob(f"{STAGING_PREFIX}*"):  # a killed attempt's partial files
        shutil.rmtree(stale, ignore_errors=True)
    staging = stage_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        if progress is None:
            ds.write_parquet(str(staging))
        else:
            with Poller(_FilesWritten(staging, progress), progress.every_s):
                ds.write_parquet(str(staging))
        staging.mkdir(exist_ok=True)  # no rows: Ray writes no file and may make no directory
        _conform_schemas(_data_files(staging))
        for f in _data_files(staging):
            _fsync(f)
        fsync_dir(staging)
        target = stage_dir / ROWS_DIR
        if target.exists():  # an earlier attempt's, written but never recorded: redone
            old = stage_dir / f"{STAGING_PREFIX}old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(staging, target)
        fsync_dir(stage_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return describe_dataset(target, order)


class _FilesWritten:
    """The rows in a staging directory's finished files, for a live progress line: each file's count is
    read from its footer once; a file still being written (no footer yet) is counted next time."""

    def __init__(self, staging: Path, progress):
        self.staging, self.progress, self.rows = staging, progress, {}

    def __call__(self) -> None:
        if not self.staging.is_dir():
            return
        for f in _data_files(self.staging):
            if f.name not in self.rows:
                try:
                    self.rows[f.name] = pq.ParquetFile(f).metadata.num_rows
                except (pa.ArrowException, OSError):
                    continue
        self.progress.update(sum(self.rows.values()))


def describe_dataset(rows_dir: str | Path, order: Sequence[str] = ()) -> dict[str, Any]:
    """The output record of a directory of parquet files, as the manifest keeps it."""
    rows_dir = Path(rows_dir)
    files = [{"name": f.name, "rows": _num_rows(f), "bytes": f.stat().st_size, "sha256": file_sha256(f)}
             for f in _data_files(rows_dir)]
    return {"kind": KIND, "path": str(rows_dir), "rows": sum(f["rows"] for f in files),
            "bytes": sum(f["bytes"] for f in files), "sha256": list_sha256(files), "files": files,
            "order": list(order)}


def list_sha256(files: Sequence[dict]) -> str:
    # Names and row counts with contents: a renamed or re-split file list is a change too.
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f['name']}\0{f['rows']}\0{f['sha256']}\n".encode())
    return digest.hexdigest()


def verify_dataset(expected: dict[str, Any]) -> None:
    rows_dir = Path(expected["path"])
    if not rows_dir.is_dir():
        raise CorruptStageError(f"{rows_dir}: stage rows directory is missing (recorded {len(expected['files'])} "
                                f"files, {expected['rows']} rows)")
    recorded = [f["name"] for f in expected["files"]]
    extra = sorted({f.name for f in _data_files(rows_dir)} - set(recorded))
    if extra:
        raise CorruptStageError(f"{rows_dir}: parquet files the record does not list: {extra}")
    if list_sha256(expected["files"]) != expected["sha256"]:
        raise CorruptStageError(f"{rows_dir}: the recorded file list does not match its recorded sha256 "
                                f"(the manifest was edited)")
    for f in expected["files"]:
        path = rows_dir / f["name"]
        verify_file(path, f["bytes"], f["sha256"])
        rows = _num_rows(path)
        if rows != f["rows"]:
            raise CorruptStageError(f"{path}: row count differs: {rows} rows, recorded {f['rows']}")


def read_tables(output: dict[str, Any], columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """The recorded files' tables one at a time, in the record's order (not verified here)."""
    rows_dir = Path(output["path"])
    for f in output["files"]:
        path = rows_dir / f["name"]
        if columns is None:
            yield pq.read_table(path)
        else:
            present = set(pq.read_schema(path).names)
            yield pq.read_table(path, columns=[c for c in columns if c in present])


def read_dataset_rows(output: dict[str, Any]) -> list[dict]:
    """All rows as dicts, sorted by the record's `order`: what stage_rows hands a recipe. Verified."""
    verify_dataset(output)
    if not output["files"]:
        return []
    # One name for the table, rebound: the unsorted copy is freed before the dicts are made.
    table = pa.concat_tables(list(read_tables(output)), promote_options="default")
    if output.get("order"):
        table = table.sort_by([(c, "ascending") for c in output["order"]])
    return table.to_pylist()


def iter_dataset_columns(output: dict[str, Any], columns: Sequence[str]) -> Iterator[dict]:
    """Rows as dicts of only `columns` (those a file has), one file in memory at a time: for a
    stage's metrics over a large output (accuracy by model) without holding its rows."""
    for table in read_tables(output, columns):
        yield from table.to_pylist()


def _conform_schemas(files: list[Path]) -> None:
    """Give every file the schema of all of them together. Each write task writes its blocks' own
    schema: a column that is all None in one block (gold, on the strong half) is null-typed in its
    file and a string in the next, and pyarrow's reader of the directory (pq.read_table(dir), what a
    script reading a stage's path does) casts every file to the first file's schema and fails. Only
    the files that differ are rewritten, one in memory at a time, before the directory is published."""
    schemas = [pq.read_schema(f) for f in files]
    if not schemas:
        return
    unified = pa.unify_schemas(schemas, promote_options="default")
    for path, schema in zip(files, schemas):
        if schema.equals(unified, check_metadata=False):
            continue
        table = pq.read_table(path)
        table = pa.table({field.name: table[field.name] if field.name in table.column_names
                          else pa.nulls(table.num_rows, field.type) for field in unified}).cast(unified)
        rewritten = path.with_name(f".{path.name}.conform")
        pq.write_table(table, rewritten)
        os.replace(rewritten, path)


def _data_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(SUFFIX))


def _num_rows(path: Path) -> int:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as err:
        raise CorruptStageError(f"{path}: not a readable parquet file ({err})") from err


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
