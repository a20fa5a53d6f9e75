"""stage_dataset: a stage's rows as many parquet files the workers wrote, recorded, verified, read back.

The files here are written by pyarrow as Ray Data's writer would leave them (tests/test_stage_stream.py
and tests/test_stage_dataset_progress.py write them with Ray); `Crashing` stands in for a writer killed mid-write."""
from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2s_ray.run.manifest import Manifest, ManifestError, StageResult, run_stage
from w2s_ray.run.stage_dataset import ROWS_DIR, STAGING_PREFIX, read_dataset_rows, write_dataset
from w2s_ray.run.stage_io import CorruptStageError, iter_output_columns, read_output, verify_output
from w2s_ray.stages.steps import stage_rows

ROWS = [{"problem_id": f"p{i // 2:03d}", "sample_index": i % 2, "text": "x" * i, "gold": None} for i in range(40)]


class Writer:
    """What `write_dataset` asks of a Ray Dataset: write_parquet(path), here in three files out of order."""

    def __init__(self, rows, fail_after: int | None = None):
        self.rows, self.fail_after = rows, fail_after

    def write_parquet(self, path):
        os.makedirs(path, exist_ok=True)
        parts = [self.rows[i::3] for i in range(3)]  # interleaved: the files' order is not the rows'
        for i, part in enumerate(parts):
            if self.fail_after is not None and i == self.fail_after:
                raise KeyboardInterrupt("killed mid-write")
            pq.write_table(pa.Table.from_pylist(part), os.path.join(path, f"w_{i:06d}-0.parquet"))


def test_round_trip_in_order_and_record(tmp_path):
    record = write_dataset(tmp_path / "s", Writer(ROWS[::-1]), order=("problem_id", "sample_index"))
    assert record["kind"] == "parquet_dataset" and record["rows"] == 40 and len(record["files"]) == 3
    assert record["path"] == str(tmp_path / "s" / ROWS_DIR)
    assert record["bytes"] == sum(os.path.getsize(f"{record['path']}/{f['name']}") for f in record["files"])
    assert read_output(record) == ROWS  # sorted back, as the single-file stage wrote them
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [ROWS_DIR]  # no staging left behind


class Blocks(Writer):
    """One file per block, each with its block's own schema, as Ray Data's write tasks leave them."""

    def write_parquet(self, path):
        os.makedirs(path, exist_ok=True)
        for i, block in enumerate(self.rows):
            pq.write_table(pa.Table.from_pylist(block), os.path.join(path, f"w_{i:06d}-0.parquet"))


def test_files_whose_blocks_typed_a_column_differently_read_back_as_one(tmp_path):
    # `g` all None (null-typed) in the first block, a string in the second; `h` only in the second
    record = write_dataset(tmp_path, Blocks([[{"a": 1, "g": None}], [{"a": 2, "g": "x", "h": 1.5}]]), ["a"])
    expected = [{"a": 1, "g": None, "h": None}, {"a": 2, "g": "x", "h": 1.5}]
    assert read_output(record) == expected
    assert pq.read_table(record["path"]).sort_by("a").to_pylist() == expected  # a script reading the directory


def test_no_rows(tmp_path):
    record = write_dataset(tmp_path, Writer([]))
    assert record["rows"] == 0 and read_output(record) == [] and verify_output(record) is None


def test_columns_are_read_one_file_at_a_time(tmp_path):
    record = write_dataset(tmp_path, Writer(ROWS))
    got = list(iter_output_columns(record, ["problem_id", "absent"]))
    assert sorted(r["problem_id"] for r in got) == sorted(r["problem_id"] for r in ROWS) and set(got[0]) == {"problem_id"}


@pytest.mark.parametrize("damage, message", [
    ("truncate", r"w_000001-0\.parquet: truncated: \d+ bytes, recorded \d+"),
    ("remove", r"w_000002-0\.parquet: missing \(recorded \d+ bytes\)"),
    ("flip", r"w_000000-0\.parquet: sha256 mismatch"),
    ("extra", r"parquet files the record does not list: \['stray\.parquet'\]"),
    ("rows dir", r"rows: stage rows directory is missing"),
])
def test_damaged_files_are_refused_by_name(tmp_path, damage, message):
    record = write_dataset(tmp_path, Writer(ROWS))
    rows_dir = tmp_path / ROWS_DIR
    if damage == "truncate":
        with open(rows_dir / "w_000001-0.parquet", "r+b") as f:
            f.truncate(100)
    elif damage == "remove":
        os.remove(rows_dir / "w_000002-0.parquet")
    elif damage == "flip":
        data = bytearray((rows_dir / "w_000000-0.parquet").read_bytes())
        data[60] ^= 0xFF
        (rows_dir / "w_000000-0.parquet").write_bytes(bytes(data))
    elif damage == "extra":
        pq.write_table(pa.Table.from_pylist(ROWS[:1]), rows_dir / "stray.parquet")
    else:
        os.rename(rows_dir, tmp_path / "moved")
    with pytest.raises(CorruptStageError, match=message):
        read_output(record)


def test_recorded_rows_and_file_list_are_checked(tmp_path):
    record = write_dataset(tmp_path, Writer(ROWS))
    files = [dict(record["files"][0], rows=1), *record["files"][1:]]
    with pytest.raises(CorruptStageError, match="does not match its recorded sha256"):
        verify_output({**record, "files": files})
    from w2s_ray.run.stage_dataset import list_sha256
    with pytest.raises(CorruptStageError, match=r"w_000000-0\.parquet: row count differs: 14 rows, recorded 1"):
        verify_output({**record, "files": files, "sha256": list_sha256(files)})


def test_a_write_killed_midway_leaves_the_earlier_rows_and_no_staging(tmp_path):
    first = write_dataset(tmp_path, Writer(ROWS[:10]))
    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path, Writer(ROWS, fail_after=2))
    assert read_output(first) == read_dataset_rows(first) and first["rows"] == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == [ROWS_DIR]


def test_a_staging_dir_a_dead_process_left_is_removed_by_the_next_write(tmp_path):
    (tmp_path / f"{STAGING_PREFIX}dead").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(ROWS[:2]), tmp_path / f"{STAGING_PREFIX}dead" / "half.parquet")
    record = write_dataset(tmp_path, Writer(ROWS))
    assert sorted(p.name for p in tmp_path.iterdir()) == [ROWS_DIR] and record["rows"] == 40


def _stage(manifest, key, rows, calls):
    def body():
        calls.append(key)
        return StageResult(outputs={"rows": write_dataset(manifest.run_dir / key, Writer(rows), ("problem_id",
                                                                                              "sample_index"))},
                           rows_out=len(rows))
    return run_stage(manifest, key, body)


def test_manifest_records_verifies_and_resumes_a_dataset_stage(tmp_path):
    manifest, calls = Manifest.create(tmp_path, {"c": 1}, "h"), []
    done = _stage(manifest, "round_1/generate", ROWS, calls)
    stored = json.loads((tmp_path / "manifest.json").read_text())
    assert stored["version"] == 2 and stored["stages"]["round_1/generate"]["outputs"]["rows"]["path"] == \
        "round_1/generate/rows"
    again = _stage(Manifest.load(tmp_path), "round_1/generate", ROWS, calls)
    assert calls == ["round_1/generate"] and again.resumed and again.sha256() == done.sha256()
    assert stage_rows(again) == ROWS
    os.remove(tmp_path / "round_1/generate/rows/w_000001-0.parquet")
    with pytest.raises(CorruptStageError, match=r"output 'rows' fails verification: .*w_000001-0\.parquet: missing"):
        _stage(Manifest.load(tmp_path), "round_1/generate", ROWS, calls)


def test_a_version_1_manifest_reads_as_before_and_becomes_2_with_a_dataset_record(tmp_path):
    Manifest.create(tmp_path, {"c": 1}, "h")
    data = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**data, "version": 1}))
    old = Manifest.load(tmp_path)
    from w2s_ray.run.stage_io import write_stage
    run_stage(old, "a", lambda: StageResult(outputs={"rows": write_stage(tmp_path / "a", ROWS)}))
    assert json.loads((tmp_path / "manifest.json").read_text())["version"] == 1  # nothing new in it
    _stage(Manifest.load(tmp_path), "b", ROWS, [])
    assert json.loads((tmp_path / "manifest.json").read_text())["version"] == 2


def test_a_newer_manifest_is_refused_with_its_version(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 3, "config": {}, "config_hash": "h", "stages": {}}))
    with pytest.raises(ManifestError, match=r"manifest version 3, this code reads versions 1, 2"):
        Manifest.load(tmp_path)
