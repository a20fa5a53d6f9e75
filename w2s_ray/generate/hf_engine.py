"""transformers `generate` in a Ray Data actor pool: the engine where vLLM is not installed.

Same rows in and out as the vLLM engine (finish_reason and stop_token_id: generate/finish.py).
Per-row seeds cannot be honoured inside one batched `generate` call, so a sampled batch is seeded by
its first row's seed: reproducible for the same batch composition, which Ray Data keeps for the same
input and batch size.
"""
from __future__ import annotations

import numpy as np

from w2s_ray.config import TeacherConfig
from w2s_ray.generate.finish import eos_ids_of, hf_end
from w2s_ray.raycluster.devices import Device, actor_resources


def truncate_at_stop(text: str, stops: list[str]) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


class HFGenerator:
    def __init__(self, model_path: str, teacher: dict, device: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from w2s_ray.run.kernels import check_pinned

        check_pinned()
        torch.set_num_threads(1)
        self.teacher = TeacherConfig.model_validate(teacher)
        self.device = "cuda" if device == "gpu" else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = "auto" if self.teacher.dtype == "auto" else getattr(torch, self.teacher.dtype)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(self.device).eval()
        self.eos_ids = eos_ids_of(self.model, self.tokenizer)  # where generate stops (generate/finish.py)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        t = self.teacher
        prompts = [str(p) for p in batch["prompt"]]
        # Default special tokens (BOS where the tokenizer adds one), as vLLM tokenises prompts.
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        sample = t.temperature > 0
        if sample:
            torch.manual_seed(int(batch["sampling_params"][0]["seed"]))
        with torch.no_grad():
            out = self.model.generate(
                **enc, max_new_tokens=t.max_tokens, do_sample=sample,
                temperature=t.temperature if sample else None, top_p=t.top_p if sample else None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        texts, counts, reasons, stop_tokens = [], [], [], []
        for row in new_tokens:
            full = self.tokenizer.decode(row, skip_special_tokens=True)
            text = truncate_at_stop(full, t.stop)
            reason, stop_token = hf_end(row.tolist(), self.eos_ids, cut_by_stop_string=len(text) < len(full))
            texts.append(text)
            counts.append(len(self.tokenizer(text, add_special_tokens=False)["input_ids"]))
            reasons.append(reason)
            stop_tokens.append(stop_token)
        result = {k: v for k, v in batch.items() if k != "sampling_params"}
        result["text"] = np.array(texts, dtype=object)
        result["n_prompt_tokens"] = enc["attention_mask"].sum(dim=1).cpu().numpy()
        result["n_generated_tokens"] = np.array(counts)
        result["finish_reason"] = np.array(reasons, dtype=object)
        result["stop_token_id"] = np.array(stop_tokens, dtype=np.int64)
        return result


def build_hf_generator(teacher: TeacherConfig, model_path: str, device: Device):
    def run(ds):
        return ds.map_batches(
            HFGenerator,
            fn_constructor_kwargs={"model_path": str(model_path), "teacher": teacher.model_dump(), "device": device},
            batch_size=teacher.batch_size,
            concurrency=teacher.concurrency,
            batch_format="numpy",
            **actor_resources(device, cpus=1.0),
        )

    return run
