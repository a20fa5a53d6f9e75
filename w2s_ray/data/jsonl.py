"""JSONL reading that keeps every line accounted for, and atomic JSONL writing."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class JsonLine:
    line: int  # 1-based
    raw: str  # the line as text, without its line break
    value: Any  # the decoded JSON value; None when error is set
    error: str | None  # why the line could not be decoded


def iter_jsonl(path: str | Path) -> Iterator[JsonLine]:
    """Every non-blank line of a JSONL file, decoded or with its decoding error.

    Lines are read as bytes and decoded one by one, so one bad byte sequence costs one line,
    not the file.
    """
    with open(path, "rb") as f:
        for number, data in enumerate(f, start=1):
            if not data.strip():
                continue
            raw = data.decode("utf-8", errors="replace").rstrip("\r\n")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                yield JsonLine(number, raw, None, f"not valid UTF-8 (byte {e.start + 1})")
                continue
            try:
                yield JsonLine(number, raw, json.loads(text), None)
            except json.JSONDecodeError as e:
                yield JsonLine(number, raw, None, f"malformed JSON: {e.msg} (column {e.colno})")


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL, replacing the file only once all rows are written; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count
