"""The Ray logs a reader of a run needs, copied into RUN_DIR/logs/ray/<Ray session>/ at each stage's end.

RUN_DIR/logs/ray used to be a link into this node's /tmp/ray: on a cluster the run directory is on a
shared volume and the link dangles everywhere but in the head pod, and dies with it. What is copied:
the workers' output (engines, train workers, scorers: worker-*.out / .err) and the raylet's (worker
deaths, out-of-memory kills), the non-empty ones changed since the last copy, each at most its last
MAX_FILE_BYTES. Ray session directories keep a resumed run's sessions apart (raylet.out in each).
"""
from __future__ import annotations

import fnmatch
import shutil
import sys
from pathlib import Path

PATTERNS = ("worker-*.out", "worker-*.err", "raylet.out", "raylet.err")
MAX_FILE_BYTES = 16 * 1024 ** 2


class RayLogCopy:
    """Copies `logs_dir` (a Ray session's logs on this node) into `run_dir`/logs/ray/<session>/."""

    def __init__(self, run_dir: Path, logs_dir: str | Path):
        self.source = Path(logs_dir)
        self.dest = Path(run_dir) / "logs" / "ray" / self.source.parent.name
        self._copied: dict[str, tuple[int, int]] = {}  # name -> (size, mtime_ns) when last copied

    def sync(self, stage: str | None = None) -> list[Path]:
        """Copy what changed; the files written. Never raises: a stage must not fail on its logs."""
        written = []
        try:
            for path in sorted(self.source.iterdir()):
                if not any(fnmatch.fnmatch(path.name, p) for p in PATTERNS) or not path.is_file():
                    continue
                stat = path.stat()
                seen = (stat.st_size, stat.st_mtime_ns)
                if stat.st_size == 0 or self._copied.get(path.name) == seen:
                    continue
                self.dest.mkdir(parents=True, exist_ok=True)
                _copy_tail(path, self.dest / path.name, stat.st_size)
                self._copied[path.name] = seen
                written.append(self.dest / path.name)
        except OSError as err:
            print(f"[run] Ray logs not copied{f' after {stage}' if stage else ''}: {err}", file=sys.stderr, flush=True)
        return written


def _copy_tail(source: Path, dest: Path, size: int) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    with open(source, "rb") as src, open(tmp, "wb") as out:
        if size > MAX_FILE_BYTES:
            src.seek(size - MAX_FILE_BYTES)
            out.write(f"[w2s: the first {size - MAX_FILE_BYTES:,} bytes are left out; the whole file is "
                      f"{source} on its node]\n".encode())
        shutil.copyfileobj(src, out)
    tmp.replace(dest)


def prepare_logs_dir(run_dir: Path) -> None:
    """A link RUN_DIR/logs/ray left by a run made before the copies is removed (it dangles); a
    directory stays, with the sessions copied into it so far."""
    link = Path(run_dir) / "logs" / "ray"
    if link.is_symlink():
        link.unlink()
