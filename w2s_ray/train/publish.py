"""Publishing a finished model directory atomically: out_dir exists complete, or not at all.

A crash at any point leaves at most an `out_dir.tmp-*` sibling, never a half-written out_dir that
the next round (or the resume logic) would mistake for a finished checkpoint.
"""
from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def staging_dir(out_dir: Path) -> Path:
    """A fresh sibling of out_dir on the same filesystem, so the final rename is atomic."""
    return out_dir.parent / f"{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def refuse_existing(out_dir: Path, overwrite: bool) -> None:
    """An existing out_dir is finished work: replaced only when the caller says so."""
    if Path(out_dir).exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; pass overwrite=True to replace it")


def publish_dir(out_dir: Path, fill: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Run fill(staging) to populate a staging dir, then rename it to out_dir.

    With overwrite=True an existing out_dir is replaced, and only once the new one is complete.
    """
    out_dir = Path(out_dir)
    refuse_existing(out_dir, overwrite)
    staging = staging_dir(out_dir)
    try:
        fill(staging)
        if out_dir.exists():
            retired = staging_dir(out_dir)
            out_dir.rename(retired)
            staging.rename(out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def place_checkpoint(checkpoint, dest: Path) -> None:
    """Move (local storage) or download (remote storage) a Ray Train checkpoint's files to dest."""
    import pyarrow.fs

    if isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem):
        # Storage lives beside out_dir (same filesystem): a rename, not a copy of the weights.
        shutil.move(checkpoint.path, dest)
    else:
        checkpoint.to_directory(str(dest))
