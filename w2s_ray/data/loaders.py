"""Load problems from JSONL or parquet files or Hugging Face datasets into the one Problem schema.

Every input line ends up as a problem, a skipped blank line, or an error: by default the first bad
line raises InputError(path, line, field, message); with quarantine=PATH each bad line is written
there as {"path", "line", "field", "error", "raw"} and counted instead. Nothing is dropped silently.
A repeated id is a bad line (naming the first); so is a question that repeats an earlier line's with
another gold (conflicting supervision: the later line is the bad one), and a question longer than
MAX_QUESTION_CHARS, which no engine's context holds and which would otherwise fail stages later, far
from its line. A source that yields no problem at all is an error.

Duplicate questions with the same gold are kept here: de-duplication is the job of
w2s_ray.data.splits, which counts what it drops.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2s_ray.data.formats import FORMATS, GOLD_FIELD, QUESTION_FIELD, RecordError, detect_format, mapper_for
from w2s_ray.data.jsonl import JsonLine, iter_jsonl, write_jsonl
from w2s_ray.data.schema import InputError, Problem, content_hash

HF_PREFIX = "hf:"
# 64k characters is over 16k tokens of any tokenizer: GSM8K's longest question is ~1k characters,
# MATH's ~5k. A question past it is a broken record (a file concatenated into one field), not a task.
MAX_QUESTION_CHARS = 1 << 16


@dataclass(frozen=True)
class LoadResult:
    problems: list[Problem]
    quarantined: int  # bad lines written to quarantine_path; always 0 without one
    quarantine_path: str | None


def _check_format(format: str) -> None:
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")


def _map_rows(
    rows: Iterable[JsonLine], where: str, format: str, quarantine: str | Path | None, seed: int = 0
) -> LoadResult:
    # With "auto", the first record that is a JSON object decides the format for the whole source.
    chosen = None if format == "auto" else format
    problems: list[Problem] = []
    bad: list[dict[str, Any]] = []
    first_line_of_id: dict[str, int] = {}
    first_of_question: dict[str, tuple[int, str]] = {}  # content hash -> (line, gold)
    for row in rows:
        try:
            if row.error is not None:
                raise RecordError(None, row.error)
            if not isinstance(row.value, dict):
                raise RecordError(None, f"expected a JSON object, got {type(row.value).__name__}")
            chosen = chosen or detect_format(row.value)
            problem = _map_one(mapper_for(chosen, seed), row.value, where)
            # A repeated id the file gave (not one made from the question: a repeated question is a
            # duplicate that splits.py counts) would make two problems one at select time.
            if row.value.get("id") is not None and problem.id in first_line_of_id:
                raise RecordError("id", f"duplicate id {problem.id!r} (first on line {first_line_of_id[problem.id]})")
            _check_question(problem, row.line, chosen, first_of_question)
            first_line_of_id.setdefault(problem.id, row.line)
            problems.append(problem)
        except RecordError as e:
            if quarantine is None:
                raise InputError(where, row.line, e.field, e.message) from None
            bad.append(
                {"path": where, "line": row.line, "field": e.field, "error": e.message, "raw": row.raw}
            )
    if quarantine is not None:
        # Written even when empty, so a rerun never leaves a stale quarantine from an earlier load.
        write_jsonl(quarantine, bad)
    if not problems:
        why = f"all {len(bad)} lines were quarantined to {quarantine}" if bad else "it has no records"
        raise InputError(where, None, None, f"no problems loaded: {why}")
    return LoadResult(problems, len(bad), None if quarantine is None else str(quarantine))


def _check_question(problem: Problem, line: int, format: str, first_of_question: dict[str, tuple[int, str]]) -> None:
    """Refuse an over-long question, and one whose gold contradicts an earlier line's for the same
    question (by content hash, as splits.py de-duplicates); record the first line of each."""
    if len(problem.question) > MAX_QUESTION_CHARS:
        raise RecordError(QUESTION_FIELD[format], f"{len(problem.question):,} characters, over the "
                          f"{MAX_QUESTION_CHARS:,} a question may have (no engine context holds it)")
    if problem.gold is None:
        return
    key = content_hash(problem.question)
    first = first_of_question.setdefault(key, (line, problem.gold))
    if first[1] != problem.gold:
        raise RecordError(GOLD_FIELD[format], f"conflicting gold: the same question on line {first[0]} "
                          f"has gold {first[1]!r}, this line {problem.gold!r}")


def _map_one(mapper, record: dict, where: str) -> Problem:
    """A mapper's problem; anything it trips over in a record is that record's error, not the load's."""
    try:
        return mapper(record, where)
    except RecordError:
        raise
    except (ValueError, TypeError, RecursionError, UnicodeError) as e:
        raise RecordError(None, f"unreadable record: {type(e).__name__}: {e}") from None


def load_jsonl(
    path: str | Path, format: str = "auto", quarantine: str | Path | None = None, seed: int = 0
) -> LoadResult:
    """Problems from a JSONL file in one of FORMATS ("auto": from the keys). `seed` orders SciQ's options."""
    _check_format(format)
    return _map_rows(iter_jsonl(path), str(path), format, quarantine, seed)


def _records_as_lines(records: Iterable[dict]) -> Iterable[JsonLine]:
    """A table's rows standing in for lines: the 1-based row number, and the row's JSON text as raw."""
    return (JsonLine(i, json.dumps(record, ensure_ascii=False, default=str), record, None)
            for i, record in enumerate(records, start=1))


def load_parquet(
    path: str | Path, format: str = "auto", quarantine: str | Path | None = None, seed: int = 0
) -> LoadResult:
    """Problems from a parquet file in a dataset's own schema (as the hub's parquet exports hold it);
    errors name the file and the 1-based row."""
    _check_format(format)
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises its own types for a file that is not parquet
        raise InputError(str(path), None, None, f"not a readable parquet file: {type(e).__name__}: {e}") from None
    return _map_rows(_records_as_lines(table.to_pylist()), str(path), format, quarantine, seed)


def load_hf_dataset(
    name: str,
    split: str = "train",
    config: str | None = None,
    kind: str = "auto",
    quarantine: str | Path | None = None,
    seed: int = 0,
    **load_kwargs: Any,
) -> LoadResult:
    """Problems from datasets.load_dataset(name, config, split=split, **load_kwargs).

    Rows go through the same mappers as JSONL lines; errors name "hf:NAME[/CONFIG][SPLIT]" and the
    1-based row number. load_kwargs pass through (data_files, cache_dir, revision, ...).
    """
    _check_format(kind)
    import datasets  # heavy import, only needed on this path

    dataset = datasets.load_dataset(name, config, split=split, **load_kwargs)
    where = f"{HF_PREFIX}{name}" + (f"/{config}" if config else "") + f"[{split}]"
    return _map_rows(_records_as_lines(dataset), where, kind, quarantine, seed)


def parse_hf_spec(spec: str, config: str | None = None, split: str = "train") -> tuple[str, str | None, str]:
    """"hf:NAME[:CONFIG][@SPLIT]" -> (name, config, split)."""
    rest = spec[len(HF_PREFIX):]
    rest, _, at_split = rest.partition("@")
    name, _, at_config = rest.partition(":")
    if not name:
        raise ValueError(f"{spec!r}: expected hf:NAME[:CONFIG][@SPLIT]")
    return name, at_config or config, at_split or split


def load_problems(
    spec: str | Path,
    format: str = "auto",
    *,
    quarantine: str | Path | None = None,
    split: str = "train",
    config: str | None = None,
    seed: int = 0,
) -> LoadResult:
    """One entry for every source: a ".jsonl" or ".parquet" path, or "hf:NAME[:CONFIG][@SPLIT]" (e.g.
    "hf:openai/gsm8k:main@test", "hf:allenai/sciq@test"); a config or split in the spec wins over the
    arguments. `seed` orders SciQ's options (data/capability_formats.py)."""
    text = str(spec)
    if text.startswith(HF_PREFIX):
        name, config, split = parse_hf_spec(text, config, split)
        return load_hf_dataset(name, split, config, format, quarantine, seed)
    readers = {".jsonl": load_jsonl, ".parquet": load_parquet}
    if Path(text).suffix not in readers:
        raise ValueError(f"expected a .jsonl or .parquet path or {HF_PREFIX}NAME, got {text!r}")
    if not Path(text).is_file():
        raise InputError(text, None, None, "no such file")
    return readers[Path(text).suffix](text, format, quarantine, seed)

