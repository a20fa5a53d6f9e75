"""One writer per run directory: an exclusive lock held for the life of the process that writes it.

Two processes on one run directory would both run the same stage, and the last manifest write would
win (a lost update). `lock_run_dir` takes RUN_DIR/.w2s.lock (file_lock: flock, which the kernel drops
when the holder exits, even on SIGKILL, so a crashed run never leaves a stale lock), writes the
holder's pid into it, and keeps it until the process exits. A second process gets RunLockedError
naming that pid at once. Re-entrant within one process: a resume that first edits the manifest and
then runs takes it once.
"""
from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock

from w2s_ray.run.file_lock import LockTimeoutError, acquire
from w2s_ray.run.manifest import ManifestError

LOCK_FILE = ".w2s.lock"
_held: dict[Path, FileLock] = {}  # run dir -> the lock this process holds on it


class RunLockedError(ManifestError):
    """Another live process is writing this run directory."""


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def lock_run_dir(run_dir: str | Path) -> None:
    run_dir = Path(run_dir).resolve()
    if run_dir in _held:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        _held[run_dir] = acquire(run_dir / LOCK_FILE, timeout_s=0, what=f"writing {run_dir}", on_acquired=_write_pid)
    except LockTimeoutError:
        try:
            holder = (run_dir / LOCK_FILE).read_text().strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise RunLockedError(f"{run_dir} is in use by another w2s process (pid {holder}); wait for it "
                             f"to finish or stop it, or use another run_dir") from None

