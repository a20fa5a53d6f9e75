"""Does a refactor keep old run directories? Each recipe's tiny config runs with the code of OLD_REV,
then the code of this checkout runs the same config in the same run directory: every stage must come
back from its record (none re-runs, none is refused as changed), and `w2s report` of the old and the
new code must write the same report.md.

    python bench/resume_across_commits.py OLD_REV [--recipes w2s_reasoning easy_to_hard ...] [--out DIR]

Tiny models as the tests build them (tests/tiny_run.py; HF engine, one train worker); about 10 min on 2 cores for the
four recipes. OLD_REV is checked out in a temporary git worktree, removed at the end. Exit 1 when a
recipe re-ran a stage or its report changed, or its run was refused: a config whose hash changed
between the two (a default that changed on purpose) is refused as another config, as it should be.

Measured 2026-12-06, OLD_REV 6bdb0ce (before stage inputs were derived) against the code after them:
w2s_reasoning 23 stages, easy_to_hard 13, supervision_mix 6, none re-run, reports identical;
light_reasoner refused (ConfigMismatchError: its eos_step default changed on purpose since 6bdb0ce;
against 64466c2's code, before that change, its 9 stages resumed whole).
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.tiny_run import build_tiny_models, write_config  # noqa: E402

TEACHER = dict(engine="hf", max_tokens=24, dtype="float32", batch_size=32)


def configs(out: Path, models: tuple[str, str]) -> dict[str, Path]:
    """A tiny config per recipe that reaches most of its stages (rounds, Stage II, Monte Carlo labels,
    every supervision kind)."""
    def edit(path: Path, **changes) -> Path:
        raw = yaml.safe_load(path.read_text())
        if "recipe" in changes:  # the loop section is w2s_reasoning's
            raw.pop("loop")
        path.write_text(yaml.safe_dump({**raw, **changes}))
        return path

    w2s = edit(write_config(out / "w2s_reasoning.yaml", out / "w2s_reasoning", models, rounds=2,
                            baselines=["weak", "strong_base", "ceiling", "full_weak_ft"]),
               stage2={"n": 3, "questions": 12, "min_confidence": 0.0, "flip_confidence": 0.0})
    e2h = out / "easy_to_hard.yaml"
    e2h.write_text(yaml.safe_dump({
        "name": "tiny-e2h", "recipe": "easy_to_hard", "run_dir": str(out / "easy_to_hard"),
        "ray": {"num_cpus": 2, "device": "cpu"},
        "data": {"source": "world", "seed": 0, "n_weak_train": 96, "n_strong_train": 8, "n_test_per_level": 2},
        "strong": {"name": "strong", "model": models[1], **TEACHER}, "eval": {"strong_base_shots": 0, "max_tokens": 24},
        "train": {"num_workers": 1, "epochs": 1, "per_device_batch_size": 8, "max_length": 128, "lr": 1e-3,
                  "logging": "none"},
        "easy_to_hard": {"n_policy_problems": 16, "n_prm_problems": 8, "prm_samples": 2, "n": 3, "prm_lr": 1e-3,
                         "prm_epochs": 1, "mc_rollouts": 2, "mc_solutions": 2}}))
    lr = edit(write_config(out / "light_reasoner.yaml", out / "light_reasoner", models), recipe="light_reasoner",
              light_reasoner={"n_questions": 12, "max_tokens": 24, "beta": 0.4, "lr": 1e-3, "contrast_batch_size": 8})
    mix = edit(write_config(out / "supervision_mix.yaml", out / "supervision_mix", models), recipe="supervision_mix",
               supervision_mix={"hard_levels": [4, 5], "n_hard": 6, "subtask_steps": 2, "evaluate_base": False,
                                "mixes": [{"name": "all", "parts": [
                                    {"kind": "hard", "outcome_error": 0.5, "error_step": "early"},
                                    {"kind": "subtask"}, {"kind": "rephrased"}]}]})
    return {"w2s_reasoning": w2s, "easy_to_hard": e2h, "light_reasoner": lr, "supervision_mix": mix}


def w2s(code: Path, *args: str, log: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(code)}
    with log.open("a") as f:
        subprocess.run([sys.executable, "-m", "w2s_ray.cli", *args], cwd=code, env=env, stdout=f,
                       stderr=subprocess.STDOUT, check=True)


def finished(run_dir: Path) -> dict[str, str]:
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    return {key: record.get("finished") for key, record in stages.items()}


def compare(name: str, config: Path, old: Path, out: Path) -> bool:
    run_dir = Path(yaml.safe_load(config.read_text())["run_dir"])
    log = out / f"{name}.log"
    try:
        w2s(old, "run", str(config), log=log)
        before = finished(run_dir)
        w2s(ROOT, "run", str(config), log=log)  # StageInputsChangedError fails it here
    except subprocess.CalledProcessError as err:
        print(f"{name}: {' '.join(err.cmd[2:])} failed; see {log}", flush=True)
        return False
    after = finished(run_dir)
    rerun = sorted(key for key in before if after.get(key) != before[key])
    reports = {}
    for side, code in (("old", old), ("new", ROOT)):
        copy = out / f"{name}-report-{side}"
        shutil.copytree(run_dir, copy)
        w2s(code, "report", str(copy), log=log)
        reports[side] = copy / "report.md"
    same = filecmp.cmp(reports["old"], reports["new"], shallow=False)
    print(f"{name}: {len(before)} stages, {len(rerun)} re-run {rerun}, report.md "
          f"{'identical' if same else 'DIFFERS'}", flush=True)
    return not rerun and same and set(after) == set(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old_rev")
    parser.add_argument("--recipes", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="w2s-resume-"))
    out.mkdir(parents=True, exist_ok=True)
    old = out / "old-code"
    subprocess.run(["git", "worktree", "add", "--detach", str(old), args.old_rev], cwd=ROOT, check=True)
    try:
        runs = configs(out, build_tiny_models())
        ok = [compare(name, path, old, out) for name, path in runs.items()
              if args.recipes is None or name in args.recipes]
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    print(f"{sum(ok)} of {len(ok)} recipes resume whole with the same report (logs in {out})")
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
