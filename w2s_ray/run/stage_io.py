"""Write a stage's output so that it is complete or absent, and read it back only if it is intact.

Three kinds of stage output, each described by a small dict the manifest records:
  parquet          {kind, path, rows, sha256, bytes}     RUN_DIR/.../STAGE/data.parquet, from the driver's rows
  parquet_dataset  {kind, path, rows, sha256, bytes, files, order}
                                                         RUN_DIR/.../STAGE/rows/*.parquet, written by the
                                                         Ray workers (stage_dataset.py)
  checkpoint       {kind, path, sha256, bytes, files}    a model directory (safetensors weights)

Writes go to a temporary file in the target directory, are fsynced, then renamed over the target:
a kill leaves the old file or the new one, never half of one. Reads check existence, size, sha256
and row count against the recorded description, so a truncated or swapped file is refused with a
message that names the file, rather than training silently on partial data.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from w2s_ray.run.atomic_file import atomic_replace

DATA_FILE = "data.parquet"
WEIGHT_SUFFIX = ".safetensors"
_CHUNK = 1 << 20


class CorruptStageError(RuntimeError):
    """A recorded stage output is missing or differs from its record; the message says which and how."""


def write_stage(stage_dir: str | Path, rows: list[dict]) -> dict[str, Any]:
    """Write rows to stage_dir/data.parquet atomically; return the output record for the manifest.

    Columns are the union of the rows' keys in first-seen order (a key missing from a row reads back
    as None); pyarrow infers each column's type. No rows gives a table with no columns.
    """
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    target = stage_dir / DATA_FILE
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    table = pa.table({c: [row.get(c) for row in rows] for c in columns})
    with atomic_replace(target, "wb") as f:
        pq.write_table(table, f)
    return {"kind": "parquet", "path": str(target), "rows": len(rows),
            "sha256": file_sha256(target), "bytes": target.stat().st_size}


def read_stage(stage_dir: str | Path, expected: dict[str, Any]) -> list[dict]:
    """The rows of stage_dir/data.parquet, after verifying the file against `expected` (write_stage's record)."""
    path = Path(stage_dir) / DATA_FILE
    verify_parquet(path, expected)
    return pq.read_table(path).to_pylist()


def read_output(output: dict[str, Any]) -> list[dict]:
    """The rows of a stage output as a manifest records it ({path, sha256, ...}), verified."""
    if output.get("kind") == "parquet_dataset":
        from w2s_ray.run.stage_dataset import read_dataset_rows

        return read_dataset_rows(output)
    return read_stage(Path(output["path"]).parent, output)


def iter_output_columns(output: dict[str, Any], columns: list[str]) -> Iterator[dict]:
    """Rows of a (written, not re-verified) rows output as dicts of only `columns`, those it has:
    a stage's metrics without holding its other columns."""
    if output.get("kind") == "parquet_dataset":
        from w2s_ray.run.stage_dataset import iter_dataset_columns

        yield from iter_dataset_columns(output, columns)
        return
    present = set(pq.read_schema(output["path"]).names)
    yield from pq.read_table(output["path"], columns=[c for c in columns if c in present]).to_pylist()


def verify_parquet(path: str | Path, expected: dict[str, Any]) -> None:
    path = Path(path)
    verify_file(path, expected["bytes"], expected["sha256"])
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as err:
        raise CorruptStageError(f"{path}: not a readable parquet file ({err})") from err
    if rows != expected["rows"]:
        raise CorruptStageError(f"{path}: row count differs: {rows} rows, recorded {expected['rows']}")


def describe_checkpoint(model_dir: str | Path) -> dict[str, Any]:
    """Output record of a saved model directory: a hash over its *.safetensors files (all shards,
    or a LoRA adapter's weights). Configs and tokenizer files are not hashed: the weights are what
    a silently broken checkpoint gets wrong, and hashing them is what costs time."""
    model_dir = Path(model_dir)
    files = _weight_files(model_dir)
    if not files:
        raise CorruptStageError(f"{model_dir}: no {WEIGHT_SUFFIX} weights in the checkpoint directory")
    return {"kind": "checkpoint", "path": str(model_dir), "files": [f.name for f in files],
            "sha256": _weights_sha256(files), "bytes": sum(f.stat().st_size for f in files)}


def verify_checkpoint(model_dir: str | Path, expected: dict[str, Any]) -> None:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CorruptStageError(f"{model_dir}: checkpoint directory is missing")
    names = [f.name for f in _weight_files(model_dir)]
    if names != list(expected["files"]):
        raise CorruptStageError(f"{model_dir}: weight files differ: found {names}, recorded {list(expected['files'])}")
    size = sum((model_dir / n).stat().st_size for n in names)
    if size != expected["bytes"]:
        raise CorruptStageError(f"{model_dir}: weights are {size} bytes, recorded {expected['bytes']} "
                                f"({'truncated' if size < expected['bytes'] else 'size differs'})")
    if _weights_sha256([model_dir / n for n in names]) != expected["sha256"]:
        raise CorruptStageError(f"{model_dir}: weights sha256 differs from the record (same size: changed in place)")


def verify_output(output: dict[str, Any]) -> None:
    """Verify one output record of either kind; raises CorruptStageError."""
    kind = output.get("kind")
    if kind == "parquet":
        verify_parquet(output["path"], output)
    elif kind == "parquet_dataset":
        from w2s_ray.run.stage_dataset import verify_dataset

        verify_dataset(output)
    elif kind == "checkpoint":
        verify_checkpoint(output["path"], output)
    else:
        raise ValueError(f"unknown stage output kind {kind!r} in {output}; expected 'parquet', "
                         f"'parquet_dataset' or 'checkpoint'")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, size: int, sha256: str) -> None:
    if not path.is_file():
        raise CorruptStageError(f"{path}: missing (recorded {size} bytes)")
    actual = path.stat().st_size
    if actual != size:
        what = "truncated" if actual < size else "size differs"
        raise CorruptStageError(f"{path}: {what}: {actual} bytes, recorded {size}")
    if file_sha256(path) != sha256:
        raise CorruptStageError(f"{path}: sha256 mismatch (same size {size} bytes, different content)")


def _weight_files(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIX)) \
        if model_dir.is_dir() else []


def _weights_sha256(files: list[Path]) -> str:
    # Hash names with contents so that renaming shards is a change too.
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}\0{file_sha256(f)}\n".encode())
    return digest.hexdigest()
