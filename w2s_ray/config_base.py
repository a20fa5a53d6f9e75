"""The base of every config model: unknown keys are errors, types are strict."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # strict: YAML's "3" is not the number 3, nor is `true` the number 1 (lax mode converted both).
    # allow_inf_nan: `temperature: .inf` or `lr: .nan` is a typo, never a setting.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
