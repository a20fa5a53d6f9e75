"""The base of every config model: unknown keys are errors, types are strict."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict


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
