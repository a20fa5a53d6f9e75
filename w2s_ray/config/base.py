"""The base of every config model (unknown keys are errors, types are strict), and what of a model
a hash sees (`hash_exclude`)."""
from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python


class Strict(BaseModel):
    # strict: YAML's "3" is not the number 3, nor is `true` the number 1 (lax mode converted both).
    # allow_inf_nan: `temperature: .inf` or `lr: .nan` is a typo, never a setting.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted (for "must be unique" errors)."""
    return sorted({n for n in names if names.count(n) > 1})


def default_cache_dir() -> Path:
    """Where built models go: $W2S_CACHE; else `.cache/w2s` of the source checkout this package runs
    from, which is where the Makefile's targets look, so `make demo` and a bare `.venv/bin/w2s run`
    (from any directory) share built models; else, for an installed wheel, ~/.cache/w2s_ray."""
    if os.environ.get("W2S_CACHE"):
        return Path(os.environ["W2S_CACHE"])
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "w2s_ray" / "config" / "base.py").is_file():
        return checkout / ".cache" / "w2s"
    return Path.home() / ".cache" / "w2s_ray"


@dataclass(frozen=True)
class Added:
    """Field metadata, `x: Annotated[int, Added(1)] = 1`: the field was added after hashes of its model
    were recorded (config hashes in run manifests, recipe hashes in model-build stages and cache
    keys), with `value` as its default. While it holds that value it computes what the records did,
    so it hashes as absent and the recorded hashes still match (a resume is refused on another
    hash). Any other value is part of the hash. `value` stays as written when the default changes:
    a config left at a new default computes something else and must hash so."""

    value: Any


@dataclass(frozen=True)
class NotHashed:
    """Field metadata, `x: Annotated[int, NOT_HASHED] = 3`: how or where a run goes (its directory,
    retries, serving), not what it computes; a hash never sees it."""


NOT_HASHED = NotHashed()


def hash_exclude(model: BaseModel, hashed_always: Collection[str] = ()) -> dict:
    """What a hash of `model` leaves out, as `model_dump(exclude=...)` takes it: its NOT_HASHED fields and
    its `Added` fields at their added value, in nested models too (lists and dicts of them included).
    `hashed_always` names `Added` fields of `model` itself that a record has hashed since they were
    added (it was made before them and took them as they came): those stay in."""
    exclude: dict = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        added = next((m for m in info.metadata if isinstance(m, Added)), None)
        if any(isinstance(m, NotHashed) for m in info.metadata) or (
                added is not None and name not in hashed_always
                and to_jsonable_python(value) == to_jsonable_python(added.value)):
            exclude[name] = True
        elif nested := _nested_exclude(value):
            exclude[name] = nested
    return exclude


def _nested_exclude(value: Any) -> dict:
    if isinstance(value, BaseModel):
        return hash_exclude(value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    return {key: sub for key, item in items if (sub := _nested_exclude(item))}
