"""The base of every config model: unknown keys are errors, types are strict."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # strict: YAML's "3" is not the number 3, nor is `true` the number 1 (lax mode converted both).
    # allow_inf_nan: `temperature: .inf` or `lr: .nan` is a typo, never a setting.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted (for "must be unique" errors)."""
    return sorted({n for n in names if names.count(n) > 1})
