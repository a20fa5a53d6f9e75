"""lm-evaluation-harness in its own venv (.venv-lmeval, `make lm-eval-venv`) against a served run, for
the serving tests: the task `w2s lm-eval-task --run-dir` writes, the lm_eval command it prints, run as
a subprocess, and its results and per-problem samples read back."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from w2s_ray.cli import main as w2s

ROOT = Path(__file__).resolve().parent.parent
LM_EVAL_VENV = Path(os.environ.get("W2S_LM_EVAL_VENV", ROOT / ".venv-lmeval"))
LM_EVAL = LM_EVAL_VENV / "bin" / "lm_eval"


def require_lm_eval() -> None:
    if not LM_EVAL.exists():
        pytest.skip(f"lm-eval's venv is absent ({LM_EVAL}): `make lm-eval-venv` builds it "
                    "(`make test` and `make test-lm-eval` do)")


@dataclass
class LmEvalRun:
    task_dir: Path
    data: Path  # the task's problems: `w2s eval --data` reads the same file
    exact_match: float
    samples: list[dict]  # lm-eval's --log_samples, one per problem
    seconds: float


def lm_eval_env(home: Path, api_key: str | None) -> dict[str, str]:
    """lm-eval's process: its own venv, no hub (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE), its caches under
    home, the bearer token in $OPENAI_API_KEY where local-completions reads it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "RAY_AUTH_MODE")}
    env.update({"PATH": f"{LM_EVAL.parent}:{env.get('PATH', '')}", "HF_HUB_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(home), "TOKENIZERS_PARALLELISM": "false"})
    if api_key:
        env["OPENAI_API_KEY"] = api_key
    return env


def run_lm_eval(run_dir: Path, url: str, work: Path, capsys, api_key: str | None = None) -> LmEvalRun:
    """`w2s lm-eval-task --run-dir` into work/task, then the lm_eval command it printed, as printed
    (plus --output_path and --log_samples), against the server at url."""
    code = w2s(["lm-eval-task", "--run-dir", str(run_dir), "--out", str(work / "task"), "--endpoint", url])
    printed = capsys.readouterr().out
    assert code == 0, printed
    line = next(line for line in printed.splitlines() if line.strip().startswith("lm_eval "))
    command = [str(LM_EVAL), *shlex.split(line)[1:], "--output_path", str(work / "out"), "--log_samples"]
    t0 = time.monotonic()
    proc = subprocess.run(command, env=lm_eval_env(work / "hf", api_key), capture_output=True, text=True,
                          timeout=600, cwd=work)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    results = json.loads(next((work / "out").rglob("results_*.json")).read_text())
    samples = [json.loads(s) for s in next((work / "out").rglob("samples_w2s_test_*.jsonl")).read_text().splitlines()]
    return LmEvalRun(work / "task", work / "task" / "w2s_test.jsonl",
                     results["results"]["w2s_test"]["exact_match,strict-match"], samples, seconds)
