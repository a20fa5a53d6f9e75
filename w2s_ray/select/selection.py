"""The result type shared by every selection function, and the one way an SFT row is built.

An SFT row is what the SFT trainer reads:
  problem_id, prompt, completion, source_model, role, sample_index, level, answer
The prompt is always the zero-shot template, whatever prompt generated the solution: the strong
model generates with few-shot demos, but the student must learn to answer the bare question.
`answer` rides along for reporting only (`selection_quality`); the trainer ignores it.

Selection functions read only the columns named in GENERATION_COLUMNS_READ. Gold labels (`gold`,
`correct`, `has_gold`) must never influence what is selected, so the builders copy named fields
instead of whole rows; tests hand in rows whose gold columns raise on access.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from w2s_ray.text.prompts import zero_shot

GENERATION_COLUMNS_READ = ("problem_id", "model", "role", "sample_index", "question", "text", "answer", "level")
SFT_COLUMNS = ("problem_id", "prompt", "completion", "source_model", "role", "sample_index", "level", "answer")


@dataclass
class Selection:
    """Selected rows plus the accounting a manifest records.

    `unit` says what n_in, kept and dropped count ("problem" or "solution"); every function
    guarantees kept + sum(dropped.values()) == n_in, so nothing goes missing unaccounted.
    `by_teacher` breaks the accounting down per weak teacher where a function has one.
    """

    rows: list[dict]
    n_in: int
    kept: int
    dropped: dict[str, int]
    unit: str = "problem"
    by_teacher: dict[str, dict] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # what the function derived from its input, e.g. a threshold

    def __post_init__(self):
        self.rows = sorted(self.rows, key=sort_key)
        self.dropped = {reason: n for reason, n in sorted(self.dropped.items()) if n}
        accounted = self.kept + sum(self.dropped.values())
        if accounted != self.n_in:
            raise AssertionError(f"selection lost track of {self.unit}s: {self.n_in} in, "
                                 f"{self.kept} kept + {sum(self.dropped.values())} dropped")

    def sha256(self) -> str:
        """Hash of the selected rows in canonical order: equal hashes mean identical training data."""
        return canonical_sha256(self.rows)

    def stats(self) -> dict[str, Any]:
        return {
            "unit": self.unit, "n_in": self.n_in, "kept": self.kept, "rows_out": len(self.rows),
            "dropped": dict(self.dropped), "by_teacher": self.by_teacher, "sha256": self.sha256(), **self.extra,
        }


def sort_key(row: dict) -> tuple:
    # source_model alone can tie (several samples of one teacher in take_all): sample_index breaks it.
    return (row["problem_id"], row["source_model"], row.get("sample_index") or 0)


def canonical_sha256(rows: Iterable[dict]) -> str:
    ordered = sorted(rows, key=sort_key)
    blob = json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def sft_row(gen: dict, role: str) -> dict:
    """The SFT row for one generation row (only the GENERATION_COLUMNS_READ are touched)."""
    return {
        "problem_id": str(gen["problem_id"]),
        "prompt": zero_shot(gen["question"]),
        "completion": " " + (gen["text"] or "").strip(),
        "source_model": str(gen["model"]),
        "role": role,
        "sample_index": _as_int(gen["sample_index"]) or 0,
        "level": _as_int(gen["level"]),
        "answer": gen["answer"] or "",
    }


def _as_int(value: Any) -> int | None:
    """Rows from pandas or Ray can carry numpy ints or NaN for a missing level; JSON and the
    canonical hash need plain ints, so equal data hashes equally whichever path it came by."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def check_role(rows: Iterable[dict], expected: str, argument: str) -> None:
    """Swapped weak/strong arguments would silently invert the filter; fail loudly instead."""
    for row in rows:
        role = row.get("role")
        if role is not None and role != expected:
            raise ValueError(f"{argument} holds a row with role {role!r} (model {row.get('model')!r}, "
                             f"problem {row.get('problem_id')!r}); expected role {expected!r}")


def first_samples(rows: Iterable[dict], key_fields: tuple[str, ...]) -> dict[tuple, dict]:
    """Per key, the row with the lowest sample_index (the greedy / first sample).

    Two rows with the same key and sample_index mean upstream repeated data (a bad resume, a
    double write): refuse, since picking one would hide it.
    """
    best: dict[tuple, dict] = {}
    seen: set[tuple] = set()
    for row in rows:
        key = tuple(str(row[f]) for f in key_fields)
        index = _as_int(row["sample_index"]) or 0
        if (key, index) in seen:
            raise ValueError(f"duplicate generation rows for {dict(zip(key_fields, key))} sample_index {index}")
        seen.add((key, index))
        if key not in best or index < (_as_int(best[key]["sample_index"]) or 0):
            best[key] = row
    return best


def group_weak_by_problem(weak_rows: Iterable[dict]) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """{problem_id: {teacher model: its first (greedy) row}} and the sorted teacher names."""
    grouped: dict[str, dict[str, dict]] = {}
    for (model, pid), row in first_samples(weak_rows, ("model", "problem_id")).items():
        grouped.setdefault(pid, {})[model] = row
    teachers = sorted({model for by_teacher in grouped.values() for model in by_teacher})
    return grouped, teachers
