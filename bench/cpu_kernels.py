"""What a CPU kernel pin (ray.cpu_kernels, run/kernels.py) changes and costs: one student build per
pin, each in a fresh process pinned after `import torch` as a w2s driver pins it, one torch thread,
one after another in one run. Prints each build's seconds and its ratio to the native build of the
same run, the weights' sha256, and the kernels it ran (ATen capability, MKL branch).

    python bench/cpu_kernels.py                                  # world-student-tiny, every pin
    python bench/cpu_kernels.py --student world-student --pins native,avx2

Equal sha256 between two pins means this CPU picks those kernels natively; on an AVX512 CPU the
native build differs from the avx2 one, which is what an AVX2 CPU builds natively.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

from w2s_ray.run.kernels import PIN_VARIABLES

CHILD = textwrap.dedent("""
    import hashlib, json, sys, tempfile, time
    from pathlib import Path
    import torch
    from w2s_ray.run.kernels import kernels_in_effect, pin_kernels
    pin_kernels(sys.argv[1])
    from w2s_ray.models.strong_student import DEFAULT_STUDENTS, train_strong_student
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        train_strong_student(DEFAULT_STUDENTS[sys.argv[2]], Path(d), threads=1)
        seconds = time.perf_counter() - start
        sha = hashlib.sha256((Path(d) / "model.safetensors").read_bytes()).hexdigest()
        loss = json.loads((Path(d) / "training.json").read_text())["final_loss"]
    print(json.dumps({"seconds": seconds, "sha256": sha, "kernels": kernels_in_effect(), "final_loss": loss}))
""")


def build(pin: str, student: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    out = subprocess.run([sys.executable, "-c", CHILD, pin, student], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{pin}: the build failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", default="world-student-tiny")
    parser.add_argument("--pins", default="native,avx2,portable")
    args = parser.parse_args()
    pins = args.pins.split(",")
    if "native" not in pins:
        pins.insert(0, "native")
    results = {pin: build(pin, args.student) for pin in pins}
    native = results["native"]
    print(f"{args.student}, one thread a build")
    print("| pin | seconds | x native | kernels (ATen, MKL branch) | sha256 | final loss |")
    print("|---|---|---|---|---|---|")
    for pin, r in results.items():
        print(f"| {pin} | {r['seconds']:.1f} | {r['seconds'] / native['seconds']:.2f} | {tuple(r['kernels'])} | "
              f"{r['sha256'][:16]} | {r['final_loss']:.4f} |")


if __name__ == "__main__":
    main()
