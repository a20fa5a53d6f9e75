"""The run's lineage and resume point: RUN_DIR/manifest.json.

    {"version": 2, "config": {...}, "config_hash": "...", "created": "<iso>",
     "stages": {"round_1/generate": {"status": "complete", "inputs": {name: hash},
                "outputs": {name: <stage_io record>}, "rows_in": n, "rows_out": n,
                "dropped": {reason: n}, "seconds": s, "metrics": {...},
                "started": "<iso>", "finished": "<iso>", "tag": {"role": ..., "label": ...}}, ...}}

Only complete stages are recorded, in the order they completed; a stage is never rewritten. A
crashed run resumes by calling `run_stage` for every stage again: complete ones return their
record (after verifying their files), the first incomplete one runs. Every change rewrites the
whole file atomically (temporary file, fsync, os.replace, fsync of the directory), so a kill at any
moment leaves the previous manifest or the new one. One process (the loop driver) writes it.

`tag` says what the stage is for (run/stage_tags.py: a baseline, a student's eval, ...), as the recipe
that ran it declared; readers find models by it, not by the stage key. An untagged record (written
before tags existed, or a stage no reader looks for) has no "tag" field: stage_tags.legacy_tag maps
the keys readers used to match, so older run directories still report and serve.

Version 2 added the `parquet_dataset` output (a stage's rows as many files the Ray workers wrote,
run/stage_dataset.py); a version 1 manifest holds only `parquet` and `checkpoint` records, which
this code reads as before, and it becomes version 2 when a stage records a `parquet_dataset` in it,
so that code which knows only version 1 refuses the run with its version rather than failing on
a record it cannot verify.

Output paths inside the run directory are stored relative to it, so a run directory can be moved or
copied (to another machine, a bucket) and still resume; `record()` hands them back absolute.
"""
from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from w2s_ray.run.atomic_file import atomic_replace
from w2s_ray.run.stage_io import CorruptStageError, verify_output
from w2s_ray.run.stage_tags import Tag

MANIFEST_FILE = "manifest.json"
VERSION = 2
READABLE_VERSIONS = (1, 2)
RECORD_FIELDS = ("inputs", "outputs", "rows_in", "rows_out", "dropped", "seconds", "metrics", "started", "finished",
                 "tag")
OUTPUT_KINDS = ("parquet", "parquet_dataset", "checkpoint")
V1_OUTPUT_KINDS = ("parquet", "checkpoint")


class ManifestError(RuntimeError):
    """The manifest cannot be used as asked (unreadable, another config, a stage rewritten)."""


class ConfigMismatchError(ManifestError):
    pass


class StageAlreadyCompleteError(ManifestError):
    pass


class StageInputsChangedError(ManifestError):
    """A complete stage is asked for again with different inputs: its recorded output is stale."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Manifest:
    def __init__(self, run_dir: str | Path, data: dict[str, Any]):
        self.run_dir = Path(run_dir).resolve()
        self.path = self.run_dir / MANIFEST_FILE
        self._data = data
        # Called with a stage's key when it ends, finished or failed (a run copies its Ray logs).
        self.stage_end_hooks: list[Callable[[str], object]] = []

    @classmethod
    def create(cls, run_dir: str | Path, config: Mapping[str, Any], config_hash: str) -> "Manifest":
        """A new manifest, or the existing one when it was made with the same config hash (resume).

        An existing manifest with another config hash is refused: resuming it would mix data made
        under two configs into one lineage.
        """
        run_dir = Path(run_dir)
        if (run_dir / MANIFEST_FILE).exists():
            existing = cls.load(run_dir)
            if existing.config_hash != config_hash:
                raise ConfigMismatchError(
                    f"{existing.path} was made with config hash {existing.config_hash}, this config hashes to "
                    f"{config_hash}; resuming would mix two configs in one run. Use a new run_dir, or restore "
                    f"the config that made this run.")
            return existing
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = cls(run_dir, {})
        manifest._save({"version": VERSION, "config": dict(config), "config_hash": config_hash,
                        "created": now_iso(), "stages": {}})
        return manifest

    @classmethod
    def load(cls, run_dir: str | Path) -> "Manifest":
        path = Path(run_dir) / MANIFEST_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"{path}: no manifest; is this a run directory?") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ManifestError(f"{path}: not valid JSON ({err}); it was edited or damaged outside w2s") from err
        if not isinstance(data, dict) or data.get("version") not in READABLE_VERSIONS:
            version = data.get("version") if isinstance(data, dict) else None
            raise ManifestError(f"{path}: manifest version {version!r}, this code reads versions "
                                f"{', '.join(map(str, READABLE_VERSIONS))}")
        missing = [k for k in ("config", "config_hash", "stages") if k not in data]
        if missing or not isinstance(data["config"], dict) or not isinstance(data["stages"], dict):
            raise ManifestError(f"{path}: missing or malformed keys {missing or ['config', 'stages']}; "
                                f"it was edited or damaged outside w2s")
        return cls(run_dir, data)

    @property
    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._data["config"])

    @property
    def config_hash(self) -> str:
        return self._data["config_hash"]

    def stages(self) -> list[str]:
        """Keys of the complete stages, in the order they completed."""
        return list(self._data["stages"])

    def is_complete(self, key: str) -> bool:
        return self._data["stages"].get(key, {}).get("status") == "complete"

    def record(self, key: str) -> dict[str, Any]:
        """A copy of the stage's record, with output paths made absolute."""
        if key not in self._data["stages"]:
            raise KeyError(f"stage {key!r} has no record in {self.path}; complete: {self.stages()}")
        record = copy.deepcopy(self._data["stages"][key])
        for output in record["outputs"].values():
            output["path"] = str(self.run_dir / output["path"])  # an absolute path stays as it is
        return record

    def complete(self, key: str, **record: Any) -> dict[str, Any]:
        """Record `key` as complete (fields: RECORD_FIELDS) and write the manifest; returns the record."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"stage key must be a non-empty string, got {key!r}")
        if key in self._data["stages"]:
            raise StageAlreadyCompleteError(
                f"stage {key!r} is already complete in {self.path}; a finished stage is never rewritten")
        unknown = set(record) - set(RECORD_FIELDS)
        if unknown:
            raise TypeError(f"unknown stage record fields {sorted(unknown)}; expected {list(RECORD_FIELDS)}")
        finished = record.get("finished") or now_iso()
        tag = record.get("tag")
        if tag is not None and not isinstance(tag, Tag):
            raise TypeError(f"stage {key!r}: tag must be a stage_tags.Tag, got {tag!r}")
        entry = {
            "status": "complete",
            "inputs": dict(record.get("inputs") or {}),
            "outputs": {name: self._stored_output(key, name, out) for name, out in (record.get("outputs") or {}).items()},
            "rows_in": record.get("rows_in"),
            "rows_out": record.get("rows_out"),
            "dropped": dict(record.get("dropped") or {}),
            "seconds": record.get("seconds"),
            "metrics": dict(record.get("metrics") or {}),
            "started": record.get("started") or finished,
            "finished": finished,
        }
        if tag is not None:  # untagged records stay as before tags, read by stage_tags.legacy_tag
            entry["tag"] = tag.to_json()
        failures = {k: v for k, v in self._data.get("failures", {}).items() if k != key}
        data = dict(self._data, stages={**self._data["stages"], key: entry}, failures=failures)
        if any(out["kind"] not in V1_OUTPUT_KINDS for out in entry["outputs"].values()):
            data["version"] = VERSION  # a version 1 reader could not verify this record
        self._save(data)
        return self.record(key)

    def fail(self, key: str, error: str, **counts: Any) -> None:
        """Record why a stage stopped the run (an empty selection, say), with its counts.

        Failures live apart from the stages: a failed stage is not finished, and a resume runs it
        again; the record says what the last attempt saw. Completing the stage clears it.
        """
        failures = {**self._data.get("failures", {}), key: {"error": error, "at": now_iso(), **counts}}
        self._save(dict(self._data, failures=failures))

    def failures(self) -> dict[str, dict]:
        return copy.deepcopy(self._data.get("failures", {}))

    def forget_from(self, key: str) -> list[str]:
        """Drop the record of `key` and of every stage completed after it (`w2s resume --from`), so
        the next run does them again; returns the dropped keys. Their files are overwritten then."""
        stages = self.stages()
        if key not in stages:
            raise ManifestError(f"stage {key!r} is not complete in {self.path}; complete stages: {stages}")
        dropped = stages[stages.index(key):]
        kept = {k: v for k, v in self._data["stages"].items() if k not in dropped}
        self._save(dict(self._data, stages=kept))
        return dropped

    def note_data(self, stats: Mapping[str, Any]) -> None:
        """What loading the data found (sizes, quarantined lines, duplicates, conflicting gold, content
        hash): rewritten at every open, since it describes the files as they are now."""
        if self._data.get("data") != stats:
            self._save(dict(self._data, data=dict(stats)))

    def data(self) -> dict[str, Any]:
        return copy.deepcopy(self._data.get("data", {}))

    def note_environment(self, env: Mapping[str, Any]) -> None:
        """The machine and libraries this open of the run uses (run/environment.py), appended when
        it differs from the last one noted: a run resumed elsewhere shows both."""
        history = self.environments()
        if history and {k: v for k, v in history[-1].items() if k != "noted"} == dict(env):
            return
        self._save(dict(self._data, environments=[*history, {**env, "noted": now_iso()}]))

    def environments(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data.get("environments", []))

    def _stored_output(self, key: str, name: str, output: Mapping[str, Any]) -> dict[str, Any]:
        """Checks an output record is verifiable later, and makes its path relative to the run."""
        if not isinstance(output, Mapping) or output.get("kind") not in OUTPUT_KINDS or "path" not in output:
            raise ValueError(f"stage {key!r} output {name!r} must be a stage_io record with kind in {OUTPUT_KINDS} "
                             f"and a path (write_stage / describe_checkpoint), got {output!r}")
        path = Path(output["path"]).resolve()
        if not path.exists():
            raise CorruptStageError(f"stage {key!r} output {name!r}: {path} does not exist")
        stored = dict(output)
        stored["path"] = str(path.relative_to(self.run_dir)) if path.is_relative_to(self.run_dir) else str(path)
        return stored

    def _save(self, data: dict[str, Any]) -> None:
        # Serialise before touching the disk: a record that is not JSON fails without side effects.
        blob = json.dumps(data, indent=2, default=_json_default) + "\n"
        with atomic_replace(self.path) as f:
            f.write(blob)
        self._data = json.loads(blob)  # memory holds exactly what the file holds (numpy -> plain)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars from metrics
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"manifest values must be JSON: {type(value).__name__} {value!r} is not")


@dataclass
class StageResult:
    """What a stage function returns, and what `run_stage` hands the loop driver.

    A stage function builds it from what it wrote: outputs maps a name to write_stage's or
    describe_checkpoint's record; the counts and metrics go to the manifest. `run_stage` fills
    `seconds`, and `resumed` (True when the stage did not run because its record was complete).
    """

    outputs: dict[str, dict] = field(default_factory=dict)
    rows_in: int | None = None
    rows_out: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    resumed: bool = False

    def output(self, name: str) -> dict:
        if name not in self.outputs:
            raise KeyError(f"stage has no output {name!r}; it has {sorted(self.outputs)}")
        return self.outputs[name]

    def output_hashes(self) -> dict[str, str]:
        """{name: sha256} of the outputs."""
        return {name: out["sha256"] for name, out in self.outputs.items()}

    def sha256(self) -> str:
        """The hash of this stage's one output (its rows, or its model): what a stage that reads it
        records as an input."""
        if len(self.outputs) != 1:
            raise ValueError(f"a stage read as one input must have one output; this one has {sorted(self.outputs)}")
        return next(iter(self.outputs.values()))["sha256"]

    @classmethod
    def from_record(cls, record: Mapping[str, Any], resumed: bool) -> "StageResult":
        return cls(outputs=record["outputs"], rows_in=record["rows_in"], rows_out=record["rows_out"],
                   dropped=record["dropped"], metrics=record["metrics"], seconds=record["seconds"], resumed=resumed)


def _inside_run(manifest: Manifest, value: Any) -> Any:
    """An input that is an absolute path inside the run directory (a checkpoint of an earlier stage),
    relative to it: the run directory can move and its stages still match their records."""
    if isinstance(value, str) and os.path.isabs(value):
        path = Path(value).resolve()
        if path.is_relative_to(manifest.run_dir):
            return str(path.relative_to(manifest.run_dir))
    return value


def inputs_from(upstream: Mapping[str, StageResult], settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """A stage's inputs: the hash of each upstream stage it reads, by the name it reads it under, and
    its settings (seeds, digests of what it was handed). A name in both is refused: one would hide
    the other."""
    settings = dict(settings or {})
    both = sorted(set(upstream) & set(settings))
    if both:
        raise ValueError(f"stage inputs {both} are named both as an upstream stage and as a setting")
    return {**{name: result.sha256() for name, result in upstream.items()}, **settings}


def run_stage(manifest: Manifest, key: str, fn: Callable[[], StageResult],
              inputs: Mapping[str, str] | None = None, tag: Tag | None = None,
              upstream: Mapping[str, StageResult] | None = None) -> StageResult:
    """Run `fn` once per run: a stage already complete is verified and returned from its record.

    `upstream` names the stages `fn` reads (their hashes become inputs: inputs_from), `inputs` any
    other hash or setting it depends on; a complete stage asked for with other inputs raises
    StageInputsChangedError instead of handing back stale data. A complete stage whose files fail
    verification raises CorruptStageError.
    If `fn` raises, nothing is recorded and the next resume runs the stage again.
    `tag` (stage_tags.Tag) is recorded with the stage; a resumed stage keeps the tag it was recorded
    with (a finished record is never rewritten).
    """
    inputs = {name: _inside_run(manifest, value) for name, value in inputs_from(upstream or {}, inputs).items()}
    if manifest.is_complete(key):
        record = manifest.record(key)
        # Records from before inputs were stored relative still hold absolute paths into this run.
        record["inputs"] = {name: _inside_run(manifest, value) for name, value in record["inputs"].items()}
        if record["inputs"] != inputs:
            changed = sorted(n for n in set(record["inputs"]) | set(inputs) if record["inputs"].get(n) != inputs.get(n))
            raise StageInputsChangedError(
                f"stage {key!r} is complete in {manifest.path} but its inputs changed ({changed}): recorded "
                f"{record['inputs']}, now {inputs}. Its outputs are stale; start a new run directory.")
        for name, output in record["outputs"].items():
            try:
                verify_output(output)
            except CorruptStageError as err:
                raise CorruptStageError(
                    f"stage {key!r} is recorded complete but its output {name!r} fails verification: {err}. "
                    f"The run cannot resume from it: restore the file or start a new run directory.") from err
        return StageResult.from_record(record, resumed=True)

    started, t0 = now_iso(), time.perf_counter()
    try:
        result = fn()
    finally:
        for hook in manifest.stage_end_hooks:
            hook(key)
    if not isinstance(result, StageResult):
        raise TypeError(f"stage {key!r} function returned {type(result).__name__}, expected a StageResult")
    seconds = round(time.perf_counter() - t0, 3)
    record = manifest.complete(key, inputs=inputs, outputs=result.outputs, rows_in=result.rows_in,
                               rows_out=result.rows_out, dropped=result.dropped, metrics=result.metrics,
                               seconds=seconds, started=started, finished=now_iso(), tag=tag)
    return StageResult.from_record(record, resumed=False)
