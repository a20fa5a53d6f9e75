"""Live progress of a long stage on the driver's output, where `ray job logs` and `kubectl logs` look.

With ray.worker_logs: files (the default) the workers' output, and with it every progress bar of Ray
Data, vLLM and the trainer, stays in Ray's log files: a two-hour stage showed one line at its start.
Every long stage reports here instead, through one contract:

    progress = Progress("generate weak", total=4000, unit="rows")
    progress.update(done, tokens=generated)      # as often as the stage likes; prints at a bounded rate
    progress.update(done, loss=0.53)             # training: steps done, the last logged loss
    progress.finish(done)                        # the final line, always

A line is printed when `every_s` (ray.progress_seconds, 30 s by default) has passed since the last,
when another tenth of the total is done, and at the end:

    [progress] generate weak: 1,200/4,000 rows (30 %), 40.0 rows/s, 1,850 tokens/s, ETA 1m10s

Training (steps, from rank 0) and scoring (rows in the files the workers have finished, run/
stage_dataset.py: scored rows never pass the driver) report live; generation reports its closing line
only (see `materialize`: reading its blocks as they came stalled a stage).
"""
from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

PROGRESS_EVERY_S = 30.0
_default_every_s = PROGRESS_EVERY_S


def set_interval(every_s: float) -> None:
    """The interval of every Progress made after this (a run sets ray.progress_seconds)."""
    global _default_every_s
    _default_every_s = every_s


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts of one stage, printed at a bounded rate. `clock` and `out` are the test's to replace."""

    def __init__(self, label: str, total: int, unit: str = "rows", every_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic, out: TextIO | None = None):
        self.label, self.total, self.unit = label, max(0, int(total)), unit
        self.every_s = _default_every_s if every_s is None else every_s
        self.clock, self.out = clock, out
        self.started = self.last_line_at = clock()
        self.done, self.extra = 0, {}
        self._tenths_shown = 0
        self._finished = False
        self._lock = threading.Lock()  # a poller thread and the stage may both report

    def update(self, done: int, total: int | None = None, **extra) -> str | None:
        """Report `done` units (and `tokens` for tokens/s, `loss`); the line printed, if one was due."""
        with self._lock:
            if total is not None:
                self.total = int(total)
            self.done = int(done)
            self.extra.update({k: v for k, v in extra.items() if v is not None})
            now = self.clock()
            tenths = math.floor(10 * self.done / self.total) if self.total else 0
            due = now - self.last_line_at >= self.every_s or tenths > self._tenths_shown
            # All done is finish()'s line (with the time taken), not one more before it.
            if self._finished or not due or self.done == 0 or 0 < self.total <= self.done:
                return None
            return self._emit(now, tenths)

    def finish(self, done: int | None = None, **extra) -> str:
        """The stage's last line, whatever the rate."""
        with self._lock:
            if done is not None:
                self.done = int(done)
            self.extra.update({k: v for k, v in extra.items() if v is not None})
            self._finished = True
            now = self.clock()
            return self._emit(now, 10)

    def _emit(self, now: float, tenths: int) -> str:
        self.last_line_at, self._tenths_shown = now, max(self._tenths_shown, tenths)
        line = f"[progress] {self.line(now)}"
        print(line, file=self.out or sys.stderr, flush=True)
        return line

    def line(self, now: float) -> str:
        elapsed = now - self.started
        parts = [f"{self.label}: {self.done:,}/{self.total:,} {self.unit}"
                 + (f" ({100 * self.done / self.total:.0f} %)" if self.total else "")]
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if elapsed > 0:
            parts.append(f"{rate:.2f} {self.unit}/s" if rate < 10 else f"{rate:,.1f} {self.unit}/s")
            if "tokens" in self.extra:
                parts.append(f"{self.extra['tokens'] / elapsed:,.0f} tokens/s")
        if "loss" in self.extra:
            parts.append(f"loss {self.extra['loss']:.4f}")
        if self.done < self.total and rate > 0:
            parts.append(f"ETA {duration((self.total - self.done) / rate)}")
        elif self.done >= self.total:
            parts.append(f"took {duration(elapsed)}")
        return ", ".join(parts)


def iter_rows(ds, progress: Progress) -> Iterator[dict]:
    """A Ray Dataset's rows, as Dataset.take_all reads them (iter_rows), counted as they come."""
    n = 0
    for n, row in enumerate(ds.iter_rows(), start=1):
        progress.update(n)
        yield row
    progress.finish(n)


def materialize(ds, progress: Progress, count_tokens: str | None = None):
    """Dataset.materialize(), then the stage's closing progress line (rows, and the `count_tokens`
    column summed, for tokens/s). Not block by block: the driver pulling each output block as it came
    (iter_internal_ref_bundles) stalled a generation stage whose row tasks had only a fraction of a CPU
    beside the engine, past 7 minutes, where materialize() finishes in about one
    (tests/test_free_resources.py, a Serve replica holding all but 1.5 CPUs)."""
    import pyarrow.compute as pc
    import ray
    from ray.data.block import BlockAccessor

    done = ds.materialize()
    # Counted from the stored blocks, in the driver: Dataset.count() / .sum() would start tasks that
    # wait for a whole CPU, which a stage beside a Serve replica may not have (the same stall).
    rows, tokens = 0, 0
    for bundle in done.iter_internal_ref_bundles():
        for ref, meta in zip(bundle.block_refs, bundle.metadata):
            rows += meta.num_rows or 0
            if count_tokens is not None and meta.num_rows:
                table = BlockAccessor.for_block(ray.get(ref)).to_arrow()
                tokens += int(pc.sum(table[count_tokens]).as_py() or 0)
    progress.finish(rows, **({"tokens": tokens} if count_tokens is not None and rows else {}))
    return done


class ProgressBoard:
    """A Ray actor a remote loop writes its counts to (a training run's rank 0: step, total, loss),
    and the driver's Poller reads: Ray Train hands the driver nothing before the run ends."""

    def __init__(self):
        self.state: dict = {}

    def put(self, **state) -> None:
        self.state.update(state)

    def get(self) -> dict:
        return dict(self.state)


class Poller:
    """Calls `poll` every `every_s` on a thread of its own, until the `with` block ends (and once
    more then): for a stage whose counts live elsewhere (a training run's rank 0)."""

    def __init__(self, poll: Callable[[], None], every_s: float):
        self.poll, self.every_s = poll, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="w2s-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.poll()
            except Exception as err:  # noqa: BLE001 - progress must never fail the stage it reports
                print(f"[progress] not reported: {type(err).__name__}: {err}", file=sys.stderr, flush=True)

    def __enter__(self) -> "Poller":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every_s + 5)
