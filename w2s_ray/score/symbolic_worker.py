"""Symbolic comparisons (sympy through math_verify) in a worker process, each under a hard deadline.

symbolic_guard.refusal is the cheap first line: it turns away what is known to be costly before
sympy sees it. What passes the rule still has no bound inside the scorer's own process: math_verify's
timeout is SIGALRM, which only the main thread may set, Ray Data runs scorer batches on actor
threads, and sympy can sit in one C call (a big integer power) that holds the GIL, so no thread of
that process can interrupt it. A separate process can be killed from outside whatever it is doing.

So each scorer process keeps a small pool of worker processes (`SymbolicPool`, one by default;
started on the first comparison that needs sympy, never for plain numbers). A comparison is sent to
an idle worker; once it has used `deadline_s` seconds of CPU without an answer, or `wall_s` seconds
of wall clock have passed (default max(30 s, 10 x deadline_s): a worker starved of CPU or blocked),
the worker is killed (SIGKILL) and replaced, and the comparison reports TIMED_OUT, which
answer_check counts in its `answer_timed_out` column: never scored as right or wrong. A worker that
dies mid-comparison (a crash, memory) reports TIMED_OUT too: the check did not finish.

Why CPU time: on a shared machine (5 sessions on 2 cores here, load averages past 100 seen) a
legitimate 50 ms comparison can wait seconds for a core; a wall-clock deadline alone would turn
load into timeouts, and the counts would depend on the neighbours. CPU time is what a hostile input
costs; the wall cap is the bound that always holds. Where /proc is missing the wall clock is used.

The deadline covers the comparison only: a worker's start-up (python, sympy's import and first-use
caches: ~1-3 s on a busy machine) has its own, longer limit (`start_timeout_s`).

Protocol (line-based JSON over the worker's stdin/stdout, nothing pickled): the worker writes
"ready" once warmed up, then for each `[gold, answer]` line one line `true` or `false`. The worker's
own stdout is moved to stderr, so nothing sympy or a library prints can be read as a verdict. It
dies with its parent (PR_SET_PDEATHSIG on Linux; EOF on stdin elsewhere).

    python w2s_ray/score/symbolic_worker.py [--check module:function]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

DEFAULT_DEADLINE_S = 2.0
DEFAULT_CHECK = "w2s_ray.score.symbolic_worker:math_verify_equal"
TIMED_OUT = "timed_out"
# Imports and sympy's first-use caches, paid at start-up rather than inside a row's deadline.
WARM_UP = ((r"\frac{1}{2}", "0.5"), ("x^2+1", "1+x^2"), (r"\infty", "1"))


def math_verify_equal(gold: str, answer: str) -> bool:
    """math_verify's symbolic equality, run inside the worker. No timeout of its own: the parent's
    deadline is the bound (math_verify's SIGALRM timeout would report a timeout as not equal, which
    would score it). LaTeX extraction only: its plain-expression extractor goes through sympy's
    parse_expr (eval), so no model text is ever handed to eval. Any failure inside counts as not equal."""
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    try:
        gold_parsed = parse(f"${gold}$", extraction_config=config, parsing_timeout=None)
        answer_parsed = parse(f"${answer}$", extraction_config=config, parsing_timeout=None)
        return bool(gold_parsed and answer_parsed and verify(gold_parsed, answer_parsed, timeout_seconds=None))
    except Exception:  # noqa: BLE001 - one odd answer is not equal, not a dead worker
        return False


def _spawn(argv: list[str], env: dict) -> subprocess.Popen:
    """Popen from one long-lived thread. The worker asks the kernel to kill it when its parent goes
    (PR_SET_PDEATHSIG), and Linux takes "parent" to mean the thread that forked it: a worker started
    from a short-lived caller thread (as a Ray Data batch thread may be) would die with that thread."""
    done: dict = {}
    finished = threading.Event()
    _SPAWN_REQUESTS.put((argv, env, done, finished))
    with _SPAWN_LOCK:
        global _SPAWNER
        if _SPAWNER is None or not _SPAWNER.is_alive():
            _SPAWNER = threading.Thread(target=_spawner, name="symbolic-worker-spawner", daemon=True)
            _SPAWNER.start()
    finished.wait()
    if "error" in done:
        raise done["error"]
    return done["process"]


def _spawner() -> None:
    while True:
        argv, env, done, finished = _SPAWN_REQUESTS.get()
        try:
            done["process"] = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                               close_fds=True)
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            done["error"] = error
        finished.set()


_SPAWN_REQUESTS: queue.Queue = queue.Queue()
_SPAWN_LOCK = threading.Lock()
_SPAWNER: threading.Thread | None = None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14, 15)
    except (OSError, ValueError, IndexError):
        return None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, check: str, start_timeout_s: float):
        env = dict(os.environ)
        # The parent's import path, so the worker finds this package (and a test's check) wherever
        # the parent found them: a Ray worker's path is not the shell's PYTHONPATH.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)
        env.setdefault("OMP_NUM_THREADS", "1")
        # Run as a file, not `-m`: the package's __init__ (numpy, pydantic) is no part of a check.
        self.process = _spawn([sys.executable, os.path.abspath(__file__), "--check", check], env)
        self.final_cpu_s: float | None = None  # read just before a kill: /proc forgets a reaped process
        if self._read_line(start_timeout_s) != "ready":
            self.kill()
            raise RuntimeError(f"symbolic worker ({check}) did not start within {start_timeout_s:.0f} s")

    def compare(self, gold: str, answer: str, deadline_s: float, wall_s: float) -> bool | str:
        """The verdict, or TIMED_OUT (the worker is then dead: the caller replaces it)."""
        try:
            self.process.stdin.write((json.dumps([gold, answer]) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return TIMED_OUT
        line = self._read_line(wall_s, cpu_s=deadline_s)
        if line in ("true", "false"):
            return line == "true"
        self.kill()
        return TIMED_OUT

    def _read_line(self, timeout_s: float, cpu_s: float | None = None) -> str | None:
        """One line from the worker within timeout_s of wall clock and, if given, cpu_s seconds of
        the worker's CPU time; None on either limit or EOF."""
        out, end = self.process.stdout, time.monotonic() + timeout_s
        cpu_end = None if cpu_s is None else (_cpu_seconds(self.process.pid) or 0.0) + cpu_s
        wall_cpu_end = None if cpu_s is None else time.monotonic() + cpu_s  # no /proc: wall clock
        buffer = b""
        while True:
            now = time.monotonic()
            if now >= end:
                return None
            wait = end - now
            if cpu_end is not None:
                wait = min(wait, max(0.02, cpu_s / 10))  # look at the CPU clock a few times a deadline
            if not select.select([out], [], [], wait)[0]:
                if cpu_end is not None:
                    used = _cpu_seconds(self.process.pid)
                    if used is None and time.monotonic() >= wall_cpu_end or used is not None and used >= cpu_end:
                        return None
                continue
            chunk = os.read(out.fileno(), 4096)  # the worker writes one line per request
            if not chunk:
                return None
            buffer += chunk
            if buffer.endswith(b"\n"):
                return buffer.decode(errors="replace").strip()

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        """CPU seconds this worker has used so far (its last reading once it is killed)."""
        if self.final_cpu_s is not None:
            return self.final_cpu_s
        return _cpu_seconds(self.process.pid) or 0.0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.final_cpu_s = _cpu_seconds(self.process.pid)
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class SymbolicPool:
    """Up to `size` worker processes for symbolic comparisons, each call bounded by `deadline_s`.

    Thread-safe: a caller takes an idle worker (starting one if fewer than `size` exist, else waiting
    for one), so concurrent calls from several threads run in parallel, up to `size`.
    `check` ("module:function", importable by the worker) is what the worker runs on each pair; a
    test may name a fake one to inject a slow check.
    """

    def __init__(self, size: int = 1, deadline_s: float = DEFAULT_DEADLINE_S, check: str = DEFAULT_CHECK,
                 start_timeout_s: float = 120.0, wall_s: float | None = None):
        if size < 1 or not deadline_s > 0:
            raise ValueError(f"need size >= 1 and deadline_s > 0, got {size}, {deadline_s}")
        self.size, self.deadline_s, self.check, self.start_timeout_s = size, deadline_s, check, start_timeout_s
        self.wall_s = max(30.0, 10 * deadline_s) if wall_s is None else wall_s
        self._idle: list[_Worker] = []
        self._started = 0
        self._cond = threading.Condition()
        self.timeouts = 0  # comparisons cut at the deadline (or whose worker died)
        self.restarts = 0
        # CPU the workers spent on comparisons (not on starting): what a caller's own CPU clock
        # misses, and what bounds a hostile input's cost whatever else runs on the machine.
        self.compare_cpu_s = 0.0

    def compare(self, gold: str, answer: str) -> bool | str:
        """True/False, or TIMED_OUT when the comparison did not finish within the deadline."""
        worker = self._take()
        before = worker.cpu_seconds()
        try:
            return worker.compare(gold, answer, self.deadline_s, self.wall_s)
        except BaseException:
            worker.kill()  # an interrupted exchange leaves the pipe out of step
            raise
        finally:
            spent = max(0.0, worker.cpu_seconds() - before)
            with self._cond:
                self.compare_cpu_s += spent
            self._give_back(worker)

    def _take(self) -> _Worker:
        with self._cond:
            while not self._idle and self._started >= self.size:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._started += 1
        try:
            return _Worker(self.check, self.start_timeout_s)
        except BaseException:
            with self._cond:
                self._started -= 1
                self._cond.notify()
            raise

    def _give_back(self, worker: _Worker) -> None:
        with self._cond:
            if worker.alive():
                self._idle.append(worker)
            else:  # killed at the deadline: the next caller starts a fresh one
                self._started -= 1
                self.timeouts += 1
                self.restarts += 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._started -= len(idle)
        for worker in idle:
            worker.kill()


_POOLS: dict[tuple[float, str], SymbolicPool] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(deadline_s: float = DEFAULT_DEADLINE_S, check: str = DEFAULT_CHECK) -> SymbolicPool:
    """This process's pool for (deadline, check): every scorer in one actor shares its workers."""
    with _POOLS_LOCK:
        key = (deadline_s, check)
        if key not in _POOLS:
            _POOLS[key] = SymbolicPool(deadline_s=deadline_s, check=check)
        return _POOLS[key]


def shared_compare_cpu_s() -> float:
    """CPU seconds this process' shared pools' workers have spent comparing, all pools together."""
    with _POOLS_LOCK:
        return sum(pool.compare_cpu_s for pool in _POOLS.values())


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the kernel kills us when the parent goes
        if os.getppid() == 1:  # the parent died before the line above
            os._exit(0)


def _resolve(path: str) -> Callable[[str, str], bool]:
    if path == DEFAULT_CHECK:  # this file runs as __main__: no second import of it through the package
        return math_verify_equal
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", default=DEFAULT_CHECK)
    args = parser.parse_args(argv)
    _die_with_parent()
    import logging

    for name in ("math_verify.parser", "math_verify.grader"):  # "timeout is disabled" warnings
        logging.getLogger(name).setLevel(logging.ERROR)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the verdict stream
    check = _resolve(args.check)
    for gold, answer in WARM_UP:
        check(gold, answer)
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        gold, answer = json.loads(line)
        out.write(("true" if check(gold, answer) else "false") + "\n")
        out.flush()


if __name__ == "__main__":
    main()
