"""A selection computed piece by piece: per problem (a group) or per batch of rows, then added up.

The selection functions (consistency.py, full_weak.py, preference.py) are written over whole lists.
Where the rows are too many for one process, Ray Data runs the same functions on each problem's rows
(a group-by on problem_id) or on each batch (take-all, which looks at one row at a time), and the
pieces' accounting is added up here. Nothing in this module imports Ray: the pieces and their sum are
checked against the list functions on small data without it (tests/test_select_grouped.py).

What a piece leaves out and the sum puts back: a weak teacher with no row for a problem is absent
from that problem's piece, where the list function counts it as missing (`missing_weak`,
`weak_missing`); a teacher's units are one per problem, so its missing ones are the problems less
those its pieces accounted for. Checks over the whole input (one strong model, one student, any weak
row at all) are made on the models the pieces saw.

The rows' hash is Selection.sha256's: the JSON of the rows sorted by sort_key, fed one row at a time
(`CanonicalHash`), so equal hashes still mean identical training data whichever path made them.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from w2s_ray.select.consistency import consistency_filter
from w2s_ray.select.full_weak import take_all
from w2s_ray.select.preference import build_preference_pairs, check_preference_args
from w2s_ray.select.selection import Selection

SIDE = "_side"  # which input a row came from, in a group holding both inputs' rows of one problem
MISSING = {"consistency": "missing_weak", "preference": "weak_missing"}
# After preference: recipes' maps (stages/select_data.map_data and DataSelection's piece).
UNITS = {"take_all": "solution", "consistency": "problem", "preference": "teacher_problem",
         "step_labels": "solution", "kl_steps": "step", "rs_sft": "solution", "own_outputs": "solution",
         "reward_cut": "solution"}


def take_all_piece(rows: Sequence[dict]) -> Selection:
    """take_all on a batch of weak rows: it reads one row at a time, so batches add up to the whole."""
    return take_all(rows)


def consistency_piece(rows: Sequence[dict]) -> Selection:
    """consistency_filter on one problem's rows, weak and strong (told apart by SIDE)."""
    return consistency_filter([r for r in rows if r[SIDE] == "weak"], [r for r in rows if r[SIDE] == "strong"])


def preference_piece(rows: Sequence[dict], **settings) -> Selection | None:
    """build_preference_pairs on one problem's rows, the student's samples and the weak solutions (SIDE
    "student" / "weak"); None where no teacher answered (every teacher's unit is missing: the sum counts it)."""
    weak = [r for r in rows if r[SIDE] == "weak"]
    if not weak:
        return None
    return build_preference_pairs([r for r in rows if r[SIDE] == "student"], weak, **settings)


def account(selection: Selection | None, rows: Sequence[dict]) -> dict[str, Any]:
    """A piece's accounting, as the sum adds it up: counts, and the models each side held."""
    models: dict[str, list[str]] = {}
    for row in rows:
        side = row.get(SIDE, "weak")
        if str(row["model"]) not in models.setdefault(side, []):
            models[side].append(str(row["model"]))
    if selection is None:
        return {"problems": 1, "n_in": 0, "kept": 0, "dropped": {}, "by_teacher": {}, "models": models}
    return {"problems": 1, "n_in": selection.n_in, "kept": selection.kept, "dropped": dict(selection.dropped),
            "by_teacher": selection.by_teacher, "models": models}


def add_accounts(accounts: Iterable[Mapping]) -> dict[str, Any]:
    """The sum of pieces' accounts (or of sums): numbers added, nested dicts merged, model lists joined."""
    total: dict[str, Any] = {}
    for acc in accounts:
        _add(total, acc)
    return total


def _add(into: dict, other: Mapping) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping):
            _add(into.setdefault(key, {}), value)
        elif isinstance(value, list):
            into[key] = sorted(set(into.get(key, [])) | set(value))
        else:
            into[key] = into.get(key, 0) + value


@dataclass
class SelectionSummary:
    """What Selection holds but the rows: the accounting of a selection whose rows stay in files.
    `stats()` is Selection.stats()'s record, for the same rows the same."""

    unit: str
    n_in: int
    kept: int
    dropped: dict[str, int]
    rows_out: int
    sha256: str
    by_teacher: dict[str, dict] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # Selection.extra: what the selection derived (a beta)

    def stats(self) -> dict[str, Any]:
        return {"unit": self.unit, "n_in": self.n_in, "kept": self.kept, "rows_out": self.rows_out,
                "dropped": dict(self.dropped), "by_teacher": self.by_teacher, "sha256": self.sha256, **self.extra}


def summarize(kind: str, total: Mapping, rows_out: int, sha256: str,
              extra: Mapping[str, Any] | None = None) -> SelectionSummary:
    """The whole selection's accounting from the sum of its pieces (`kind`: a key of UNITS); the
    whole-input checks the list functions make first are made here. `extra`: Selection.extra, as the
    list function would derive it from the whole input (the caller derived it before the pieces ran)."""
    models = total.get("models", {})
    if kind == "consistency" and len(models.get("strong", [])) > 1:
        raise ValueError(f"consistency_filter compares against one strong model; strong_rows hold {models['strong']}")
    if kind == "preference":
        if not models.get("weak"):
            raise ValueError("build_preference_pairs needs the weak teachers' solutions; weak_rows is empty")
        if len(models.get("student", [])) > 1:
            raise ValueError(f"preference pairs come from one student's samples; student_rows hold {models['student']}")
    by_teacher = {t: _sorted_counts(c) for t, c in sorted(total.get("by_teacher", {}).items())}
    dropped = dict(total.get("dropped", {}))
    n_in, problems = total.get("n_in", 0), total.get("problems", 0)
    if kind in MISSING:  # a teacher absent from a problem's piece: a missing unit of its own
        reason = MISSING[kind]
        for counts in by_teacher.values():
            missing = problems - counts["kept"] - sum(counts["dropped"].values())
            if missing:
                counts["dropped"] = _sorted({**counts["dropped"], reason: counts["dropped"].get(reason, 0) + missing})
                if kind == "preference":  # its units are (teacher, problem); consistency's are problems
                    dropped[reason] = dropped.get(reason, 0) + missing
                    n_in += missing
    dropped = _sorted({reason: n for reason, n in dropped.items() if n})
    kept = total.get("kept", 0)
    if kept + sum(dropped.values()) != n_in:
        raise AssertionError(f"selection lost track of {UNITS[kind]}s: {n_in} in, {kept} kept + "
                             f"{sum(dropped.values())} dropped")
    return SelectionSummary(unit=UNITS[kind], n_in=n_in, kept=kept, dropped=dropped, rows_out=rows_out,
                            sha256=sha256, by_teacher=by_teacher, extra=dict(extra or {}))


def _sorted(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def _sorted_counts(counts: Mapping) -> dict:
    return {key: _sorted(value) if isinstance(value, Mapping) else value for key, value in counts.items()}


def row_json(row: Mapping) -> str:
    """One row as canonical_sha256 writes it inside its list."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class CanonicalHash:
    """canonical_sha256 over rows fed one at a time, in sort_key order, as row_json strings."""

    def __init__(self):
        self._digest, self._first = hashlib.sha256(b"["), True

    def update(self, json_row: str) -> None:
        self._digest.update((json_row if self._first else "," + json_row).encode())
        self._first = False

    def hexdigest(self) -> str:
        digest = self._digest.copy()
        digest.update(b"]")
        return digest.hexdigest()


__all__ = ["CanonicalHash", "SIDE", "SelectionSummary", "account", "add_accounts", "check_preference_args",
           "consistency_piece", "preference_piece", "row_json", "summarize", "take_all_piece"]
