"""pip's resolver over requirements/gpu.lock, started in the background as soon as the suite knows it
will run the check (tests/conftest.py), so its wait on PyPI overlaps the CPU-bound tests.

Here PyPI's proxy serves no PEP 658 metadata files, so pip downloads the wheels (~1.5 GB) to read
their requirements: 60-110 s of network, a few seconds of CPU.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.deepspeed_prebuild import lowest_priority

TIMEOUT_S = 240


@dataclass
class Outcome:
    skipped: str | None = None  # why the check could not run (PyPI unreachable or too slow)
    returncode: int | None = None
    stderr: str = ""
    report: Path | None = None


_thread: threading.Thread | None = None
_outcome = Outcome()


def _pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=5).close()
        return True
    except OSError:
        return False


def _run(wheels: dict[str, str], platforms: list[str]) -> None:
    if not _pypi_reachable():
        _outcome.skipped = "PyPI (https://pypi.org) is unreachable: the resolver check of gpu.lock needs it"
        return
    work = Path(tempfile.mkdtemp(prefix="w2s-gpu-lock-"))
    (work / "req.txt").write_text("".join(f"{n}=={v}\n" for n, v in wheels.items()))
    report = work / "report.json"
    # --isolated: this machine's pip config (local wheel dirs, a torch cap) must not colour the answer.
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed",
               "--quiet", "--timeout", "20", "--retries", "2", "--target", str(work / "target"),
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               *[arg for p in platforms for arg in ("--platform", p)],
               "--report", str(report), "-r", str(work / "req.txt")]
    cert = Path("/etc/ssl/certs/ca-certificates.crt")  # --isolated also drops PIP_CERT
    if cert.exists():
        command[5:5] = ["--cert", str(cert)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                                preexec_fn=lowest_priority)
    except subprocess.TimeoutExpired:
        _outcome.skipped = f"PyPI answered too slowly for the resolver check (over {TIMEOUT_S} s)"
        return
    _outcome.returncode, _outcome.stderr, _outcome.report = result.returncode, result.stderr, report


def start(wheels: dict[str, str], platforms: list[str]) -> None:
    """Start the check once (a no-op when it is already running or done)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_run, args=(wheels, platforms), daemon=True, name="gpu-lock-resolver")
        _thread.start()


def outcome(wheels: dict[str, str], platforms: list[str]) -> Outcome:
    """The check's outcome, waiting for it (started here if nothing started it)."""
    start(wheels, platforms)
    _thread.join(TIMEOUT_S + 30)
    return _outcome
