"""The smoke's parts and their report: what a part hands the next, one line per part, the exit status."""
from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path


class Skip(Exception):
    """A part that does not apply on this node (why, in the message)."""


@dataclass
class SmokeState:
    """What the parts hand each other: the work directory, the model, the engines kept up."""

    work_dir: Path
    n_gpus: int = 0
    model_dir: str | None = None
    engines: object | None = None  # generate.engine_pool.EngineCache
    problems: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    part: str
    status: str  # PASS, FAIL, SKIP
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.part:<12} {self.detail}"


def run_parts(parts, state, out=None, verbose: bool = False) -> list[Outcome]:
    """Each part in turn, one line as each ends; a part's failure does not stop the others."""
    outcomes = []
    for name, part in parts:
        start = time.perf_counter()
        try:
            outcome = Outcome(name, "PASS", part(state))
        except Skip as why:
            outcome = Outcome(name, "SKIP", str(why))
        except Exception as err:  # noqa: BLE001 - a failed part is reported, and the next one runs
            outcome = Outcome(name, "FAIL", f"{type(err).__name__}: {' '.join(str(err).split())[:400]}")
            if verbose:
                traceback.print_exc()
        outcomes.append(outcome)
        print(f"{outcome.line()}  [{time.perf_counter() - start:.0f} s]", file=out or sys.stdout, flush=True)
    return outcomes


def exit_code(outcomes: list[Outcome]) -> int:
    return 1 if any(o.status == "FAIL" for o in outcomes) else 0
