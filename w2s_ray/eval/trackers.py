"""The run report's numbers in the trackers of `train.report_to` (MLflow, Weights & Biases), beside
the trainer's loss curves that TRL already sends there: accuracy and accuracy by level, PGR with its
interval, and what each selection kept, for every model of report.md's table.

One run per report in each tracker, named after the run and tagged with its directory and config
hash. Each tracker reads its own environment (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME;
WANDB_PROJECT, WANDB_MODE, WANDB_API_KEY). TensorBoard gets nothing here: it holds the trainer's
curves under RUN_DIR/tensorboard/, and the report is already in RUN_DIR.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path


REPORT_FILES = ("report.json", "report.md", "report.png")


def _metric_name(model: str, what: str) -> str:
    # Both trackers take letters, digits, _ - . / and spaces; "/" groups a model's numbers in their UIs.
    return re.sub(r"[^A-Za-z0-9_\-./]", "_", model.replace(": ", "/").replace(" ", "_")) + "/" + what


def report_metrics(report: dict) -> dict[str, float]:
    """{metric name: value} of every model row of the report: acc, acc_L<level>, pgr, pgr_low,
    pgr_high, share_kept, kept_correct; a value the report has as null (no ceiling, no selection) is left out."""
    from w2s_ray.eval.report import model_rows

    metrics = {}
    for model, row in model_rows(report):
        values = {"acc": row.get("acc"), "pgr": row.get("pgr")}
        values.update({f"acc_L{level}": acc for level, acc in (row.get("acc_by_level") or {}).items()})
        ci = row.get("pgr_ci") or {}
        values.update({"pgr_low": ci.get("low"), "pgr_high": ci.get("high")})
        selection = row.get("selection") or {}
        values.update({"share_kept": selection.get("share_kept"), "kept_correct": selection.get("kept_correct")})
        for what, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                metrics[_metric_name(model, what)] = float(value)
    return metrics


def _tags(report: dict, run_dir: Path) -> dict[str, str]:
    return {"w2s.run": str(report.get("run")), "w2s.recipe": str(report.get("recipe")),
            "w2s.config_hash": str(report.get("config_hash")), "w2s.run_dir": str(run_dir.resolve())}


def _log_mlflow(report: dict, metrics: dict[str, float], run_dir: Path) -> str:
    import mlflow

    with mlflow.start_run(run_name=f"{report.get('run')} report", tags=_tags(report, run_dir)) as run:
        mlflow.log_metrics(metrics)
        for name in REPORT_FILES:
            if (run_dir / name).exists():
                mlflow.log_artifact(str(run_dir / name))
        return run.info.run_id


def _log_wandb(report: dict, metrics: dict[str, float], run_dir: Path) -> str:
    import wandb

    run = wandb.init(name=f"{report.get('run')} report", job_type="w2s-report", dir=str(run_dir),
                     config=_tags(report, run_dir))
    try:
        run.log(metrics)  # one step: wandb's summary of the run holds the same values
        return run.id
    finally:
        run.finish()


LOGGERS = {"mlflow": _log_mlflow, "wandb": _log_wandb}


def log_report(report: dict, report_to: Sequence[str], run_dir: str | Path) -> dict[str, str]:
    """Log the report's metrics (report_metrics) and files to each tracker of `report_to` that takes
    them; {tracker: its run id}. Raises RuntimeError naming the tracker when one fails."""
    metrics, run_dir = report_metrics(report), Path(run_dir)
    logged = {}
    for tracker in report_to:
        if tracker not in LOGGERS:
            continue
        try:
            logged[tracker] = LOGGERS[tracker](report, metrics, run_dir)
        except Exception as err:  # noqa: BLE001 - any tracker error: say which tracker, keep the cause
            raise RuntimeError(f"train.report_to: logging the report of {run_dir} to {tracker} failed: "
                               f"{type(err).__name__}: {err}") from err
    return logged
