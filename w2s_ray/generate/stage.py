"""Generate stage: problems in, one row per (problem, teacher, sample) out, through Ray Data.

Output columns: problem_id, model, role, sample_index, prompt, text, answer, gold, level,
question, n_prompt_tokens, n_generated_tokens.
"""
from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from w2s_ray.config import TeacherConfig
from w2s_ray.devices import Device, engine_actor_resources
from w2s_ray.free_resources import ROW_TASK_CPUS, fit_pool, free_resources, total_resources
from w2s_ray.generate.hf_engine import build_hf_generator
from w2s_ray.generate.vllm_engine import build_vllm_generator, vllm_available
from w2s_ray.text.answers import DEFAULT_MARKERS, extract_answer
from w2s_ray.text.prompts import build_prompt

OUTPUT_COLUMNS = (
    "problem_id", "model", "role", "sample_index", "prompt", "text", "answer", "gold", "level",
    "question", "n_prompt_tokens", "n_generated_tokens",
)


@dataclass
class GenerateStats:
    teacher: str
    engine: str
    rows: int
    prompt_tokens: int
    generated_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0


def sample_seed(base: int, problem_id: str, sample_index: int) -> int:
    """A per-request seed: distinct per sample, the same on every run and worker."""
    digest = hashlib.sha256(f"{base}:{problem_id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def build_requests(problems: Sequence[dict], teacher: TeacherConfig, demo_pool: Sequence[dict] | None) -> list[dict]:
    """One request row per problem and sample, prompts built on the driver (cheap, deterministic)."""
    rows = []
    for p in problems:
        # A `prefix` (the first steps of a solution, for Monte Carlo rollouts) continues the answer.
        prompt = build_prompt(p, teacher.shots, demo_pool, teacher.seed) + (p.get("prefix") or "")
        for i in range(teacher.n):
            rows.append({
                "problem_id": p["id"], "teacher": teacher.name, "role": teacher.role,
                "sample_index": i, "prompt": prompt, "gold": p.get("gold"), "level": p.get("level"),
                "question": p["question"],
                "sampling_params": {
                    "temperature": teacher.temperature, "top_p": teacher.top_p,
                    "max_tokens": teacher.max_tokens, "seed": sample_seed(teacher.seed, p["id"], i),
                    "stop": list(teacher.stop),
                },
            })
    return rows


def choose_engine(teacher: TeacherConfig) -> str:
    if teacher.engine != "auto":
        return teacher.engine
    return "vllm" if vllm_available() else "hf"


def _finish(row: dict, markers: Sequence[str] = DEFAULT_MARKERS) -> dict:
    row = dict(row)
    row["model"] = row.pop("teacher")
    row["answer"] = extract_answer(row["text"], style="auto", markers=tuple(markers))
    return {k: row[k] for k in OUTPUT_COLUMNS}


def generate(problems: Sequence[dict], teacher: TeacherConfig, model_path: str, device: Device,
             demo_pool: Sequence[dict] | None = None, markers: Sequence[str] = DEFAULT_MARKERS):
    """Run one teacher over the problems; returns (materialised Ray Dataset, GenerateStats)."""
    import ray

    requests = build_requests(problems, teacher, demo_pool)
    engine = choose_engine(teacher)
    # As many replicas as fit in what is free now (a Serve replica may hold CPUs): a replica that
    # cannot start would leave the stage waiting forever.
    per_replica = engine_actor_resources(engine, device, teacher.tensor_parallel_size)
    want = {k: v * teacher.concurrency + (ROW_TASK_CPUS if k == "CPU" else 0.0) for k, v in per_replica.items()}
    free = free_resources(want=want)
    replicas = fit_pool(f"generate {teacher.name}", teacher.concurrency, per_replica, free, total_resources(),
                        reserve_cpus=ROW_TASK_CPUS)
    if replicas != teacher.concurrency:
        teacher = teacher.model_copy(update={"concurrency": replicas})
    build = build_vllm_generator if engine == "vllm" else build_hf_generator
    print(f"[generate] {teacher.name}: {len(requests)} requests on {engine}/{device} ({model_path})",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    ds = build(teacher, model_path, device)(ray.data.from_items(requests)).map(
        partial(_finish, markers=tuple(markers)), num_cpus=ROW_TASK_CPUS).materialize()
    seconds = time.perf_counter() - start
    stats = GenerateStats(
        teacher=teacher.name, engine=engine, rows=ds.count(),
        prompt_tokens=int(ds.sum("n_prompt_tokens") or 0),
        generated_tokens=int(ds.sum("n_generated_tokens") or 0), seconds=seconds,
    )
    if stats.rows != len(requests):
        raise RuntimeError(f"[generate] {teacher.name}: {len(requests)} requests but {stats.rows} rows came back")
    return ds, stats
