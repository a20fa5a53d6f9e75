"""Whether each tracker of `train.report_to` imports on this machine: checked before a run trains
(config/loading.check_trackers), because the train workers have the driver's packages (one image,
one lock) and a missing tracker would otherwise fail only there, after generation."""
from __future__ import annotations

import importlib

# The import each tracker of train.report_to needs, and the package of requirements/*.lock that provides it.
TRACKER_PACKAGES = {"mlflow": ("mlflow", "mlflow-skinny"), "wandb": ("wandb", "wandb"),
                    "tensorboard": ("tensorboard", "tensorboard")}


def missing_tracker(tracker: str) -> str | None:
    """None when `tracker`'s module imports here, else why not (naming the package to install).
    A real import, not a lookup: a `--no-deps` install can leave the module present but broken."""
    module, package = TRACKER_PACKAGES[tracker]
    try:
        importlib.import_module(module)
    except ImportError as err:
        return (f"'{tracker}' needs the package {package} (`pip install {package}`, or the image's "
                f"`trackers` extra, requirements/gpu.lock), and `import {module}` failed: {err}")
    return None
