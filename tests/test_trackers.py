"""train.report_to's trackers: checked by `w2s run` before it starts, and given the report's metrics (eval/trackers.py).
MLflow for real, against a file store in tmp_path; wandb offline where it is installed."""
from __future__ import annotations

import json
import struct
import sys

import pytest
import yaml

from w2s_ray.cli import main
from w2s_ray.config import check_trackers, load_config
from w2s_ray.eval.trackers import log_report, report_metrics


def a_report() -> dict:
    """What report.json holds for a run with one teacher, a ceiling and one round of a loop."""
    selection = {"unit": "problem", "n_in": 200, "kept": 60, "rows": 140, "share_kept": 0.3,
                 "kept_correct": 0.8, "by_teacher": {}}
    return {"run": "tiny", "recipe": None, "config_hash": "abc123",
            "teachers": {"weak-b": {"acc": 0.4, "n": 100, "acc_by_level": {"1": 0.6, "2": 0.2},
                                    "selection_round_1": None}},
            "baselines": {"weak": {"acc": 0.4, "n": 100, "acc_by_level": {"1": 0.6, "2": 0.2}},
                          "ceiling": {"acc": 0.9, "n": 100, "acc_by_level": {"1": 1.0, "2": 0.8}},
                          "strong_base": None, "strong_base_few_shot": None, "full_weak_ft": None},
            "rounds": [{"round": 1, "acc": 0.5, "acc_by_level": {"1": 0.7, "2": 0.3}, "pgr": 0.2,
                        "selected_rows": 140, "selection": selection,
                        "pgr_ci": {"pgr": 0.2, "low": 0.05, "high": 0.35, "level": 0.95}}],
            "students": {}}


EXPECTED = {"weak/weak-b/acc": 0.4, "weak/weak-b/acc_L1": 0.6, "weak/weak-b/acc_L2": 0.2,
            "ceiling/acc": 0.9, "ceiling/acc_L1": 1.0, "ceiling/acc_L2": 0.8,
            "round_1/acc": 0.5, "round_1/acc_L1": 0.7, "round_1/acc_L2": 0.3, "round_1/pgr": 0.2,
            "round_1/pgr_low": 0.05, "round_1/pgr_high": 0.35, "round_1/share_kept": 0.3, "round_1/kept_correct": 0.8}


def test_report_metrics_are_every_number_of_the_tables_rows():
    # The first teacher's "weak" baseline is its teacher row; nulls (no PGR for a teacher) are left out.
    assert report_metrics(a_report()) == pytest.approx(EXPECTED)


def test_mlflow_file_store_holds_the_reports_metrics(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="mlflow-skinny (requirements/cpu.lock) is not installed: run `make venv`")
    from mlflow import MlflowClient

    store = (tmp_path / "mlruns").as_uri()  # a directory that does not exist yet: the store creates it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x keeps file stores behind this switch
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    report = a_report()
    (run_dir / "report.json").write_text(json.dumps(report))

    logged = log_report(report, ["tensorboard", "mlflow"], run_dir)

    assert set(logged) == {"mlflow"}  # TensorBoard holds the trainer's curves, not the report
    run = MlflowClient(tracking_uri=store).get_run(logged["mlflow"])
    assert run.data.metrics == pytest.approx(EXPECTED)
    assert run.data.tags["w2s.config_hash"] == "abc123" and run.data.tags["w2s.run_dir"] == str(run_dir.resolve())
    artifacts = [a.path for a in MlflowClient(tracking_uri=store).list_artifacts(logged["mlflow"])]
    assert artifacts == ["report.json"]


def test_a_failing_tracker_is_named(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="mlflow-skinny (requirements/cpu.lock) is not installed: run `make venv`")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "false")  # MLflow refuses the file store
    with pytest.raises(RuntimeError, match="train.report_to: logging the report of .* to mlflow failed"):
        log_report(a_report(), ["mlflow"], tmp_path)


def _wandb_summary(run_file) -> dict:
    """The summary a finished offline run recorded in its run-<id>.wandb file: a LevelDB-style log
    (32 KiB blocks of crc32, length, type headers) of wandb's protobuf Records, after a 7-byte header.
    wandb 0.31 has no Python reader of its own (its Go core writes the file)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, pending, summary = run_file.read_bytes(), 7, b"", {}
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pending, pos = pending + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "summary":
                # A name with "/" is stored split, as nested_key.
                summary.update({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                for i in record.summary.update})
    return summary


def test_wandb_offline_run_holds_the_reports_metrics(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb", reason="wandb is in requirements/gpu.lock's trackers only, not installed here")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logged = log_report(a_report(), ["wandb"], tmp_path)  # the run directory is wandb's dir
    assert wandb.run is None  # finished
    wandb.teardown()  # its service process writes the run file: stopped, the file is complete
    (run_file,) = tmp_path.glob(f"wandb/offline-run-*-{logged['wandb']}/run-{logged['wandb']}.wandb")
    summary = _wandb_summary(run_file)
    assert {k: summary.get(k) for k in EXPECTED} == pytest.approx(EXPECTED)


def _config(tmp_path, report_to) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"weak": [{"name": "w", "model": "weak-a"}],
                                    "strong": {"name": "s", "model": "world-student"},
                                    "train": {"report_to": report_to}}))
    return str(path)


@pytest.mark.parametrize("tracker, package", [("mlflow", "mlflow-skinny"), ("wandb", "wandb")])
def test_w2s_run_refuses_a_tracker_that_does_not_import(tmp_path, monkeypatch, capsys, tracker, package):
    monkeypatch.setitem(sys.modules, tracker, None)  # `import <tracker>` raises ImportError, installed or not
    path = _config(tmp_path, [tracker])
    assert main(["run", path]) == 2  # before any data is read, Ray started or model built
    message = capsys.readouterr().err
    assert message.startswith(f"w2s: {path}: field 'train.report_to': '{tracker}' needs the package {package}"), message
    # `w2s plan` and `w2s serve` read the same file without the tracker: loading alone does not check.
    assert load_config(path).train.report_to == [tracker]


def test_a_tracker_that_imports_passes_the_check(tmp_path):
    pytest.importorskip("mlflow", reason="mlflow-skinny (requirements/cpu.lock) is not installed: run `make venv`")
    path = _config(tmp_path, ["tensorboard", "mlflow"])
    assert check_trackers(load_config(path), path) is None


def test_a_finished_run_logs_its_report_and_w2s_report_does_not_again(tmp_path, monkeypatch, capsys):
    """The run's end (cli._finish, as `w2s run` and `w2s resume` call it) on a real manifest: the
    report's numbers, as report.json has them, in one MLflow run; `w2s report` re-reports without logging."""
    pytest.importorskip("mlflow", reason="mlflow-skinny (requirements/cpu.lock) is not installed: run `make venv`")
    from mlflow import MlflowClient

    from tests.test_stage_tags import _run  # a finished w2s_reasoning run: baselines, one round, Stage II
    from w2s_ray.cli import _finish

    store = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run_dir = tmp_path / "run"
    _run(run_dir, {}, tags=True)

    assert _finish(str(run_dir), ["mlflow"]) == 0
    client = MlflowClient(tracking_uri=store)
    (run,) = client.search_runs(["0"])
    report = json.loads((run_dir / "report.json").read_text())
    assert run.data.metrics == pytest.approx(report_metrics(report))
    assert run.data.metrics["round_1/acc"] == 0.75 and run.data.metrics["stage_II/acc"] == 0.75
    assert run.data.metrics["round_1/pgr"] == pytest.approx(1.0) and run.data.metrics["round_1/kept_correct"] == 0.5
    assert "report logged to mlflow" in capsys.readouterr().err

    assert main(["report", str(run_dir)]) == 0
    assert len(client.search_runs(["0"])) == 1
