"""Exclusive locks on files (filelock's flock), with a timeout and one clear error where the file
system refuses locks: the run directory's writer, a model build, a promotion.

No soft-lock fallback: a lock that is a file's existence survives a SIGKILL and would lock the
directory for good; flock is dropped by the kernel when its holder dies, however it dies.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class LockUnavailableError(OSError):
    """The file system refuses locks (NFS without lock support, some FUSE mounts)."""


class LockTimeoutError(TimeoutError):
    """Another process still holds the lock after the timeout."""


def acquire(path: str | Path, *, timeout_s: float, what: str,
            on_acquired: Callable[[int], None] | None = None) -> FileLock:
    """The held lock on `path`; timeout_s 0: do not wait. Release with .release()."""
    lock = FileLock(path, timeout=timeout_s, thread_local=False, fallback_to_soft=False,
                    preserve_lock_file=True, on_acquired=on_acquired)
    try:
        lock.acquire()
    except Timeout:
        raise LockTimeoutError(f"{what}: {path} is locked by another process "
                               f"(waited {timeout_s:g} s)") from None
    except OSError as err:
        raise LockUnavailableError(
            f"{what}: cannot lock {path}: {err.strerror or err}; the file system refuses locks (NFS "
            f"without lock support?): put it on a local disk or a file system with working flock") from err
    return lock


@contextmanager
def exclusive(path: str | Path, *, timeout_s: float, what: str) -> Iterator[None]:
    """Hold the lock on `path` for a with-block."""
    lock = acquire(path, timeout_s=timeout_s, what=what)
    try:
        yield
    finally:
        lock.release()
