"""Replace a file so that a crash leaves the old one or the new one, never a torn one."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def fsync_dir(directory: str | Path) -> None:
    """Make a rename in `directory` durable: without it a power cut can undo the rename."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_replace(target: str | Path, mode: str = "w") -> Iterator[IO]:
    """A file to write `target`'s new content into; on a clean exit it is fsynced and renamed over
    `target` (then the directory is fsynced), on an exception it is removed and `target` untouched.
    The temporary name is unique, so two writers never share one."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
