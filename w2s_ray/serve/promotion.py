"""Promotion: which checkpoint of a run is "latest", recorded so that a crash never serves half of one.

    RUN_DIR/serve/latest.json        {"version", "run", "round", "model_id", "path", "source",
                                      "sha256", "files", "bytes", "accuracy", "promoted"}
    RUN_DIR/serve/checkpoints/round-K-<sha8>/   an immutable snapshot of round K's student

Promoting a student, after its evaluation is recorded in the manifest (the students are the stages
its recipe tagged `student_eval`, run/stage_tags.py; the checkpoint is the `train` stage of the same
label; round K's is served as `RUN-round-K`, Stage II's as `RUN-stage2`):
  1. verify the train stage's checkpoint against its manifest record (weights sha256, sizes);
  2. publish a snapshot: hard links to its files in a staging dir, renamed into place (atomic);
  3. verify the snapshot, then replace latest.json (temp file, fsync, os.replace, fsync dir).
A crash before step 3 leaves the old pointer; after it, the new one. The pointer only ever names a
snapshot that was complete and verified when it was written. Snapshots are hard links, so they cost
no disk, and a later re-train that republishes round_K/train/model (rename over it) leaves the
served files untouched: the server never reads a directory the loop may be replacing.

Promotion follows the manifest, not the caller's word: `promote_latest` picks the newest student whose
eval stage is complete, so calling it twice, or from a resumed run, is harmless, and the pointer
never moves backwards. Students are ordered by when their eval completed (1, 2, ...): the pointer's
`round` is that order, which for w2s_reasoning is the round, and Stage II's one after the last round.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from w2s_ray.run.atomic_file import atomic_replace, fsync_dir
from w2s_ray.run.file_lock import exclusive
from w2s_ray.run.manifest import Manifest, now_iso
from w2s_ray.run.stage_io import CorruptStageError, verify_checkpoint
from w2s_ray.run.stage_tags import find, tagged

SERVE_DIR = "serve"
POINTER = "latest.json"
SNAPSHOTS = "checkpoints"
VERSION = 1
REQUIRED_FILES = ("config.json",)  # besides the weights: vLLM cannot load a model without it


class PromotionError(RuntimeError):
    """A checkpoint cannot be promoted or served as asked; the message names the file or field."""


@dataclass(frozen=True)
class Promoted:
    """What latest.json records: one round's student, ready to serve."""

    run: str
    round: int
    model_id: str
    path: str  # the snapshot, relative to the run dir
    source: str  # the loop's checkpoint it was taken from, relative to the run dir
    sha256: str
    files: list[str]
    bytes: int
    accuracy: float | None
    promoted: str

    def abs_path(self, run_dir: str | Path) -> Path:
        return Path(run_dir).resolve() / self.path

    def record(self, run_dir: str | Path) -> dict:
        """The stage_io checkpoint record of the snapshot (for verify_checkpoint)."""
        return {"kind": "checkpoint", "path": str(self.abs_path(run_dir)), "sha256": self.sha256,
                "files": list(self.files), "bytes": self.bytes}


def model_id(run: str, round_k: int, label: str | None = None) -> str:
    """The id clients see: it names the run and the student's label ("round-2", "stage2")."""
    return f"{run}-{label_slug(label) if label else f'round-{round_k}'}"


def pointer_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / SERVE_DIR / POINTER


def read_latest(run_dir: str | Path) -> Promoted | None:
    """The promoted checkpoint, or None when nothing was promoted yet. Does not verify the files."""
    path = pointer_path(run_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PromotionError(f"{path}: not valid JSON ({err}); it was edited or damaged outside w2s") from err
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise PromotionError(f"{path}: pointer version {data.get('version') if isinstance(data, dict) else None!r}, "
                             f"this code reads version {VERSION}")
    fields = {k: data.get(k) for k in Promoted.__dataclass_fields__}
    missing = [k for k, v in fields.items() if v is None and k != "accuracy"]
    if missing:
        raise PromotionError(f"{path}: field(s) {missing} missing")
    return Promoted(**fields)


def check_servable(model_dir: str | Path, expected: dict | None = None) -> Path:
    """Refuse a directory a server must not load: missing config or weights, or (with `expected`,
    a stage_io checkpoint record) weights that differ from the record. Returns the resolved dir."""
    model_dir = Path(model_dir).resolve()
    if not model_dir.is_dir():
        raise PromotionError(f"{model_dir}: checkpoint directory is missing")
    for name in REQUIRED_FILES:
        if not (model_dir / name).is_file():
            raise PromotionError(f"{model_dir}: {name} is missing; not a complete checkpoint")
    if not any(p.name.endswith(".safetensors") for p in model_dir.iterdir()):
        raise PromotionError(f"{model_dir}: no *.safetensors weights; not a complete checkpoint")
    if expected is not None:
        try:
            verify_checkpoint(model_dir, expected)
        except CorruptStageError as err:
            raise PromotionError(f"refusing to serve {model_dir}: {err}") from err
    return model_dir


def verified_latest(run_dir: str | Path) -> Promoted | None:
    """read_latest, after checking its snapshot is complete and its weights match the pointer."""
    latest = read_latest(run_dir)
    if latest is not None:
        check_servable(latest.abs_path(run_dir), latest.record(run_dir))
    return latest


def newest_evaluated_student(manifest: Manifest) -> tuple[int, str, str, str] | None:
    """(order, label, eval key, train key) of the newest student whose eval is complete and whose
    checkpoint (the train stage of the same label) is recorded; order counts students 1, 2, ... by
    when their eval completed. None when no student is evaluated yet."""
    evals = tagged(manifest, "student_eval")
    for order in range(len(evals), 0, -1):
        eval_key, tag = evals[order - 1]
        train_key = find(manifest, "train", tag.label)
        if train_key is not None:
            return order, tag.label, eval_key, train_key
    return None


def label_slug(label: str) -> str:
    """A label as it appears in model ids and snapshot names: "round 2" -> "round-2"."""
    return "-".join(label.split())


def promote_latest(run_dir: str | Path) -> Promoted | None:
    """Promote the newest evaluated student if it is newer than the pointer; returns what is latest now.

    The loop calls this after each student's eval; `w2s serve` calls it too, so a run whose loop died
    between its eval and its promotion still gets served. Never moves the pointer backwards.
    """
    run_dir = Path(run_dir).resolve()
    with _promotion_lock(run_dir):
        manifest = Manifest.load(run_dir)
        current = read_latest(run_dir)
        newest = newest_evaluated_student(manifest)
        if newest is None or (current is not None and current.round >= newest[0]):
            return current
        order, label, eval_key, train_key = newest
        run = manifest.config.get("name", "run")
        record = manifest.record(train_key)["outputs"]["model"]
        accuracy = (manifest.record(eval_key)["metrics"].get("accuracy") or {}).get("acc")
        return promote(run_dir, run, order, record, accuracy, label=label)


def _promotion_lock(run_dir: Path):
    """One promoter at a time per run (the loop and a `w2s serve` may both promote): without it a
    slower promoter could write an older round over a newer one, or sweep the other's staging dir.
    A promotion copies one checkpoint: minutes at most, so a ten-minute wait is a stuck holder."""
    directory = run_dir / SERVE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    return exclusive(directory / ".promote.lock", timeout_s=600, what=f"promoting a student of {run_dir}")


def promote(run_dir: str | Path, run: str, round_k: int, record: dict, accuracy: float | None = None,
            label: str | None = None) -> Promoted:
    """Snapshot a checkpoint (a stage_io record: path, sha256, files, bytes) and point latest.json at it.

    round_k orders promotions (the pointer never moves to a lower one); label names the student in
    its model id and snapshot ("round 2" -> RUN-round-2; default: round-K).
    """
    run_dir = Path(run_dir).resolve()
    source = check_servable(record["path"], record)
    name = label_slug(label) if label else f"round-{round_k}"
    snapshot = _publish_snapshot(run_dir / SERVE_DIR / SNAPSHOTS, f"{name}-{record['sha256'][:8]}", source)
    check_servable(snapshot, {**record, "path": str(snapshot)})
    promoted = Promoted(
        run=run, round=round_k, model_id=model_id(run, round_k, label), path=str(snapshot.relative_to(run_dir)),
        source=_relative(Path(record["path"]).resolve(), run_dir), sha256=record["sha256"],
        files=list(record["files"]), bytes=int(record["bytes"]), accuracy=accuracy, promoted=now_iso())
    write_pointer(run_dir, promoted)
    return promoted


def write_pointer(run_dir: str | Path, promoted: Promoted) -> None:
    """Replace latest.json atomically: readers see the old pointer or the new one, never a mix."""
    directory = pointer_path(run_dir).parent
    directory.mkdir(parents=True, exist_ok=True)
    blob = json.dumps({"version": VERSION, **asdict(promoted)}, indent=2) + "\n"
    with atomic_replace(directory / POINTER) as f:
        f.write(blob)


def _publish_snapshot(parent: Path, name: str, source: Path) -> Path:
    """parent/name as hard links to source's files, published by one rename; reused if it exists.

    The same checkpoint always gets the same name (round and weights hash), so an existing snapshot
    is a finished one (it only appears by rename); it is re-verified by the caller anyway.
    """
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / name
    if target.is_dir():
        return target
    for stale in parent.glob(".*.tmp-*"):  # an earlier promotion that died mid-copy
        shutil.rmtree(stale, ignore_errors=True)
    staging = parent / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        for item in source.iterdir():
            if item.is_file():
                _link_or_copy(item, staging / item.name)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(parent)
    return target


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or one without hard links
        shutil.copy2(src, dst)


def _relative(path: Path, run_dir: Path) -> str:
    return str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)
