"""A content-addressed on-disk cache of built model directories.

The key is the sha256 of the canonical JSON of (kind, recipe, code version): a changed recipe or a
changed builder (bump the version) gives a new directory. A build runs in a temporary directory
next to the target and is renamed into place only when complete, so a crash never leaves a
directory that looks finished (and a killed build's leftovers are removed by the next build of
the same key). Builders of the same key on one machine (or a shared file system
with working flock) wait for each other on a lock file; should two builds still race, the first
rename wins and the loser's copy is discarded.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from w2s_ray.config.base import default_cache_dir
from w2s_ray.run.file_lock import exclusive
from w2s_ray.run.kernels import active_pin

# Bump when a builder in this package changes what it writes for the same recipe.
MODELS_CODE_VERSION = "1"
RECIPE_FILE = "recipe.json"
BUILD_LOCK_TIMEOUT_S = 3600.0


def cache_key(kind: str, recipe: dict[str, Any], code_version: str = MODELS_CODE_VERSION) -> str:
    canonical = json.dumps(
        {"kind": kind, "recipe": recipe, "code_version": code_version},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def cached_model(
    kind: str,
    recipe: dict[str, Any],
    build: Callable[[Path], None],
    cache_dir: str | Path | None = None,
    code_version: str = MODELS_CODE_VERSION,
) -> Path:
    """The directory built by `build(tmp_dir)` for this (kind, recipe), building it only once.

    `recipe` must be JSON-serialisable; it is written to recipe.json in the result.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    if active_pin() != "native":  # a pinned build rounds otherwise (run/kernels.py); native keys stay
        recipe = {**recipe, "cpu_kernels": active_pin()}
    target = root / f"{kind}-{cache_key(kind, recipe, code_version)[:16]}"
    if target.is_dir():
        return target
    # A build takes minutes (world-student ~5 on 2 cores); a waiter gives up after an hour.
    with exclusive(root / f".{target.name}.lock", timeout_s=BUILD_LOCK_TIMEOUT_S, what=f"building {kind}"):
        if target.is_dir():  # another process built it while we waited
            return target
        # Holding the lock, no one else builds this key: a temp dir of it is a killed build's.
        for stale in root.glob(f".{target.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        print(f"[w2s cache] building {kind} into {target}", file=sys.stderr, flush=True)
        start = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
        try:
            build(tmp)
            (tmp / RECIPE_FILE).write_text(
                json.dumps({"kind": kind, "recipe": recipe, "code_version": code_version}, indent=2, sort_keys=True)
            )
            _publish(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(
            f"[w2s cache] built {kind} in {time.monotonic() - start:.0f}s: {target}", file=sys.stderr, flush=True
        )
    return target


def _publish(tmp: Path, target: Path) -> None:
    tmp.chmod(0o755)  # mkdtemp makes it owner-only; a cache is read by other processes and users
    try:
        os.rename(tmp, target)
    except OSError:
        # Only a finished directory can sit at `target`: someone else's rename won; keep theirs.
        if not target.is_dir():
            raise
