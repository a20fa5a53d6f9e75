"""demo-multicap's ceiling (the strong student SFT'd on the strong half's gold) against the weak teacher,
per capability, for several training settings: the measurement the ceiling check needs before any
finding of the recipe means something (PGR is defined only where the ceiling stands above the weak).

Each setting is a real run of the config (`w2s run --set ...`) in its own run directory, stopped once
`baselines/ceiling/eval` has finished: the weak labels, the ceiling's SFT and both evaluations are the
recipe's own stages, nothing re-implemented here. A stopped run resumes like any other.

  PYTHONPATH=$PWD python bench/multicap_ceiling.py --setting train.epochs=6 --setting train.epochs=10
  PYTHONPATH=$PWD python bench/multicap_ceiling.py --report runs/mc-ceiling-*   # only read finished runs
  ... --setting train.epochs=6 --until baselines/full_weak_ft/eval   # full weak FT too (resumes a stopped run)

A setting is one or more comma-separated KEY=VALUE (`train.epochs=6,train.lr=3e-4`). Prints, per
setting, accuracy per capability and pooled, ceiling minus weak with its 95 % paired interval over the
test problems, and the SFT's optimizer steps and seconds from the manifest.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from w2s_ray.eval.findings import paired_interval
from w2s_ray.eval.pgr_interval import correct_by_problem
from w2s_ray.recipes.multi_capability.data import capability_of
from w2s_ray.run.manifest import Manifest
from w2s_ray.run.stage_io import read_output

CEILING_EVAL = "baselines/ceiling/eval"
FULL_WEAK_FT_EVAL = "baselines/full_weak_ft/eval"


def run_dir_for(setting: str) -> str:
    return "runs/mc-ceiling-" + setting.replace("train.", "").replace("multi_capability.", "").replace(",", "-").replace("=", "")


def finished(run_dir: str, stage: str) -> bool:
    try:
        stages = json.loads(Path(run_dir, "manifest.json").read_text())["stages"]
    except (OSError, ValueError, KeyError):
        return False  # not written yet, or mid-write: ask again
    return stages.get(stage, {}).get("status") == "complete"


def run_until_ceiling(config: str, setting: str, log: Path, until: str = CEILING_EVAL) -> str:
    """`w2s run` with the setting, stopped (SIGINT, so Ray shuts down) once `until` (the ceiling's eval)
    is done; a run directory stopped earlier resumes."""
    run_dir = run_dir_for(setting)
    sets = [a for kv in setting.split(",") for a in ("--set", kv)]
    cmd = [sys.executable, "-m", "w2s_ray.cli", "run", config, "--run-dir", run_dir, *sets]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while proc.poll() is None and not finished(run_dir, until):
            time.sleep(10)
        # Ray Train takes a first SIGINT as "abort this training run" and the driver goes on to the
        # next stage (seen: the sweep's second run trained on): interrupt until the driver is gone.
        for _ in range(6):
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if not finished(run_dir, until):
        raise SystemExit(f"{run_dir}: the run ended (rc {proc.returncode}) before {until}; see {log}")
    return run_dir


def capabilities(manifest: Manifest, key: str) -> dict[str, str]:
    """{problem_id: capability} of an eval stage's rows (the stage's record, verified)."""
    return {r["problem_id"]: capability_of(r) for r in read_output(manifest.record(key)["outputs"]["rows"])}


def report(run_dir: str) -> dict:
    manifest = Manifest.load(run_dir)
    weak_eval = next(k for k in manifest.stages() if k.startswith("baselines/weak/") and k.endswith("/eval"))
    weak, ceiling = correct_by_problem(manifest, weak_eval), correct_by_problem(manifest, CEILING_EVAL)
    full = correct_by_problem(manifest, FULL_WEAK_FT_EVAL) if manifest.is_complete(FULL_WEAK_FT_EVAL) else None
    caps = capabilities(manifest, weak_eval)
    train = manifest.record("baselines/ceiling/train")
    metrics = train.get("metrics", {})
    out = {"run_dir": run_dir, "train_seconds": train.get("seconds"), "train_steps": metrics.get("steps"),
           "final_train_loss": metrics.get("final_train_loss"), "capabilities": {}}
    for cap in sorted(set(caps.values())) + ["all"]:
        ids = [i for i, c in caps.items() if cap in ("all", c)]
        w = {i: weak[i] for i in ids}
        c = {i: ceiling[i] for i in ids if i in ceiling}
        iv = paired_interval(c, w)
        out["capabilities"][cap] = {"weak": 100 * sum(w.values()) / len(w), "ceiling": 100 * sum(c.values()) / len(c),
                                    "lead": 100 * iv["diff"], "ci95": [100 * iv["low"], 100 * iv["high"]], "n": len(c)}
        if full is not None:
            f = {i: full[i] for i in ids if i in full}
            gain = paired_interval(f, w)
            out["capabilities"][cap]["full_weak_ft"] = 100 * sum(f.values()) / len(f)
            out["capabilities"][cap]["full_weak_ft_gain"] = [100 * gain["diff"], 100 * gain["low"], 100 * gain["high"]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo-multicap.yaml")
    ap.add_argument("--setting", action="append", default=[], help="KEY=VALUE[,KEY=VALUE]: one run each")
    ap.add_argument("--until", default=CEILING_EVAL, help=f"the stage to stop after (e.g. {FULL_WEAK_FT_EVAL}, "
                    "which adds full weak FT's gain over the weak teacher)")
    ap.add_argument("--report", nargs="*", default=[], help="run directories already stopped past the ceiling")
    args = ap.parse_args()
    run_dirs = list(args.report)
    for setting in args.setting:
        t0 = time.time()
        run_dirs.append(run_until_ceiling(args.config, setting, Path(run_dir_for(setting) + ".log"), args.until))
        print(f"# {setting}: {time.time() - t0:.0f} s to {args.until}", flush=True)
    for run_dir in run_dirs:
        r = report(run_dir)
        print(json.dumps(r))
        print(f"## {run_dir}: ceiling SFT {r['train_steps']} steps, {r['train_seconds']} s, "
              f"final loss {r['final_train_loss']:.3f}")
        for cap, v in r["capabilities"].items():
            full = (f"  full weak FT {v['full_weak_ft']:5.1f}, over weak {v['full_weak_ft_gain'][0]:+.1f} "
                    f"[{v['full_weak_ft_gain'][1]:+.1f}, {v['full_weak_ft_gain'][2]:+.1f}]" if "full_weak_ft" in v else "")
            print(f"  {cap:11s} weak {v['weak']:5.1f}  ceiling {v['ceiling']:5.1f}  lead {v['lead']:+6.1f} "
                  f"[{v['ci95'][0]:+.1f}, {v['ci95'][1]:+.1f}]  n={v['n']}{full}")


if __name__ == "__main__":
    main()
