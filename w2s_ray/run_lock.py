"""One writer per run directory: an advisory lock held for the life of the process that writes it.

Two processes on one run directory used to both run the same stage, and the last manifest write won
(a lost update). `lock_run_dir` takes RUN_DIR/.w2s.lock with flock, writes the holder's pid into it,
and keeps it until the process exits (the kernel drops it then, even on SIGKILL, so a crashed run
never leaves a stale lock). A second process gets RunLockedError naming that pid. Re-entrant within
one process: a resume that first edits the manifest and then runs takes it once.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from w2s_ray.manifest import ManifestError

LOCK_FILE = ".w2s.lock"
_held: dict[Path, int] = {}  # run dir -> open fd holding the lock


class RunLockedError(ManifestError):
    """Another live process is writing this run directory."""


def lock_run_dir(run_dir: str | Path) -> None:
    run_dir = Path(run_dir).resolve()
    if run_dir in _held:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunLockedError(f"{run_dir} is in use by another w2s process (pid {holder}); wait for it "
                             f"to finish or stop it, or use another run_dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[run_dir] = fd


def unlock_run_dir(run_dir: str | Path) -> None:
    """Release early (tests, or a process that goes on to other work)."""
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)
