"""JSONL reading that keeps every line accounted for, and atomic JSONL writing."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2s_ray.run.atomic_file import atomic_replace


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
            yield _decode(number, raw, text)


def _decode(number: int, raw: str, text: str) -> JsonLine:
    """One line's JSON value, or why it has none. Valid JSON that Python cannot hold is an error of
    that line too, never a crash of the load: nesting past the recursion limit ("[" * 200000), an
    integer over Python's digit limit, a lone surrogate (which no UTF-8 writer or hash accepts)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return JsonLine(number, raw, None, f"malformed JSON: {e.msg} (column {e.colno})")
    except RecursionError:
        return JsonLine(number, raw, None, "JSON nested too deeply")
    except ValueError as e:  # "Exceeds the limit (4300 digits) for integer string conversion"
        return JsonLine(number, raw, None, f"unreadable JSON value: {e}")
    if "\\u" in text:  # only an escape can smuggle in a lone surrogate; raw UTF-8 cannot
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            return JsonLine(number, raw, None, f"a lone surrogate escape in a string (\\u{ord(e.object[e.start]):04x})")
    return JsonLine(number, raw, value, None)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL, replacing the file only once all rows are written; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with atomic_replace(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
