"""A load client for the served app: a few threads sending completions, every request timed.

Used by the swap test (tests/test_serve_app.py). `pause` is each thread's wait between its requests:
unpaced, four threads keep a 2-core machine's CPUs busy and a new replica takes ~90 s instead of
~40 s to start (measured in that test), so a swap test paces its load. The `openai` client runs
with max_retries=0: a request that fails must count as failed, not be retried into a success.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    start: float  # time.monotonic() when sent
    seconds: float
    ok: bool
    model: str | None  # the id that answered (names the round)
    error: str | None


class Load:
    def __init__(self, base_url: str, model: str, prompt: str, *, api_key: str | None = None, threads: int = 4,
                 max_tokens: int = 8, timeout: float = 120.0, pause: float = 0.0):
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key or "unused", max_retries=0, timeout=timeout)
        self.model, self.prompt, self.max_tokens, self.pause = model, prompt, max_tokens, pause
        self.samples: list[Sample] = []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True, name=f"load-{i}") for i in range(threads)]

    def __enter__(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def count(self) -> int:
        with self._lock:
            return len(self.samples)

    def _loop(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                response = self.client.completions.create(model=self.model, prompt=self.prompt,
                                                          max_tokens=self.max_tokens, temperature=0.0)
                sample = Sample(start, time.monotonic() - start, True, response.model, None)
            except Exception as err:  # noqa: BLE001 - every failure is a data point, not a crash
                sample = Sample(start, time.monotonic() - start, False, None, f"{type(err).__name__}: {err}")
            with self._lock:
                self.samples.append(sample)
            self._stop.wait(self.pause)


def summary(samples: list[Sample]) -> dict:
    """n, failed, p50/p99/max latency (seconds) and the models that answered."""
    latencies = sorted(s.seconds for s in samples)
    if not latencies:
        return {"n": 0, "failed": 0, "p50": None, "p99": None, "max": None, "models": {}}

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    models: dict[str, int] = {}
    for s in samples:
        if s.ok:
            models[s.model] = models.get(s.model, 0) + 1
    return {"n": len(samples), "failed": sum(not s.ok for s in samples), "p50": round(pct(0.50), 4),
            "p99": round(pct(0.99), 4), "max": round(latencies[-1], 4), "models": models}


def between(samples: list[Sample], t0: float, t1: float) -> list[Sample]:
    """The requests sent in [t0, t1)."""
    return [s for s in samples if t0 <= s.start < t1]
