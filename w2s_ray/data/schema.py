"""The one problem schema every source maps to, and the error type for bad input.

A problem row is a plain dict with these keys (Ray Data and parquet friendly):
  id        str            stable id: "<source>:<content hash>" unless the source gives one
  question  str
  gold      str | None     final answer, normalised (see w2s_ray.text.answers.normalize_answer)
  solution  str | None     full gold solution text (GSM8K style: step lines, then "#### N")
  level     int | None     difficulty 1-5
  source    str            where it came from (world, gsm8k, math, a path or a dataset name)
  capability str           which skill it tests (data/capabilities): only in rows of a capability other
                           than arithmetic; a row without it is arithmetic, so every arithmetic row, and
                           every hash of rows (data_hash), is what it was before capabilities existed
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

LEVELS = (1, 2, 3, 4, 5)


class InputError(ValueError):
    """Bad input, located: which file, which line (1-based), which field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = self.path + (f":{line}" if line is not None else "")
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}")


def content_hash(question: str) -> str:
    """Hash of the normalised question text: the key for de-duplication and split assignment."""
    norm = " ".join(question.split()).lower()
    return hashlib.sha256(norm.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    gold: str | None
    solution: str | None
    level: int | None
    source: str
    capability: str | None = None  # None: arithmetic (see the module docstring)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        if row["capability"] is None:
            del row["capability"]
        return row


ARITHMETIC = "arithmetic"


def capability_of(row: dict[str, Any] | Problem) -> str:
    """The capability a problem row (or Problem) tests: its `capability`, else arithmetic."""
    value = row.get("capability") if isinstance(row, dict) else row.capability
    return value or ARITHMETIC

