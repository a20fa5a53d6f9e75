"""The run config: its models (run_config.py; each recipe folder adds its own sections), YAML
loading and `--set` (loading.py, overrides.py), the strict base every config model derives from
(base.py), and the generated reference (docs.py, docs/config.md).

Names load on first use: base.py is imported by the config models of train/ and of every recipe
folder, which run_config.py itself imports, so importing the package must not import run_config."""
from __future__ import annotations

import importlib

_WHERE = {**dict.fromkeys(("BASELINES", "DataConfig", "EvalConfig", "LoopConfig", "RayConfig", "RunConfig",
                           "ServeConfig", "TeacherConfig", "checked_scorers"), "run_config"),
          **dict.fromkeys(("ConfigError", "check_trackers", "load_config", "validate_config"), "loading")}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
