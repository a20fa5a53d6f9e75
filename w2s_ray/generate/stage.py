"""Generate stage: problems in, one row per (problem, teacher, sample) out, through Ray Data.

Output columns: problem_id, model, role, sample_index, prompt, text, answer, gold, level,
question, n_prompt_tokens, n_generated_tokens, finish_reason, stop_token_id (how the text ended:
generate/finish.py); and `capability` where a problem of the stage has one (data/capabilities):
null in that stage's arithmetic rows, absent from a stage of arithmetic problems only (so its rows,
and every hash of them, are what they were before capabilities). A capability row's `answer` is its
capability's reading of the text (text/capability_answers.py), and answer_check sends it to that
capability's checker.
"""
from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from w2s_ray.config import TeacherConfig
from w2s_ray.generate.engine_pool import EngineCache, dataset_through_pool
from w2s_ray.generate.hf_engine import build_hf_generator
from w2s_ray.generate.vllm_engine import engine_spec, vllm_available
from w2s_ray.raycluster.devices import Device, engine_actor_resources, vllm_placement
from w2s_ray.raycluster.free_resources import ROW_TASK_CPUS, fit_pool, free_resources, total_resources
from w2s_ray.run.progress import Progress, materialize
from w2s_ray.text.answers import DEFAULT_MARKERS, extract_answer
from w2s_ray.text.capability_answers import capability_answer
from w2s_ray.text.prompts import build_prompt

OUTPUT_COLUMNS = (
    "problem_id", "model", "role", "sample_index", "prompt", "text", "answer", "gold", "level",
    "question", "n_prompt_tokens", "n_generated_tokens", "finish_reason", "stop_token_id",
)
CAPABILITY_COLUMN = "capability"  # only in stages with a capability problem (module docstring)
ARITHMETIC = "arithmetic"  # as data/schema.ARITHMETIC (generate does not import data)


def output_row(row: dict) -> dict:
    """The output columns of a finished row; `capability` where the stage carries it."""
    columns = (*OUTPUT_COLUMNS, CAPABILITY_COLUMN) if CAPABILITY_COLUMN in row else OUTPUT_COLUMNS
    return {k: row[k] for k in columns}


def row_answer(row: dict, markers: Sequence[str] = DEFAULT_MARKERS) -> str:
    """The answer a row's text states: its capability's target format, else the arithmetic markers'."""
    capability = row.get(CAPABILITY_COLUMN)
    if capability and capability != ARITHMETIC:
        return capability_answer(capability, row["text"])
    return extract_answer(row["text"], style="auto", markers=tuple(markers))


@dataclass
class GenerateStats:
    teacher: str
    engine: str
    rows: int
    prompt_tokens: int
    generated_tokens: int
    seconds: float
    startup_seconds: float = 0.0  # the engines' start, within `seconds`; 0 when a stage before started them

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
    # The column only where some problem has a capability: arithmetic-only stages stay as they were.
    with_capability = any(p.get(CAPABILITY_COLUMN) for p in problems)
    for p in problems:
        # A problem's `own_prompt` (a recipe's chat-templated one) replaces the template (a key of its
        # own: generation rows passed back as problems carry a `prompt`, built for other shots); a `prefix`
        # (the first steps of a solution, for Monte Carlo rollouts) continues the answer.
        prompt = p.get("own_prompt") or build_prompt(p, teacher.shots, demo_pool, teacher.seed)
        prompt += p.get("prefix") or ""
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
            if with_capability:
                capability = p.get(CAPABILITY_COLUMN)
                rows[-1][CAPABILITY_COLUMN] = None if capability == ARITHMETIC else capability
    return rows


def choose_engine(teacher: TeacherConfig) -> str:
    if teacher.engine != "auto":
        return teacher.engine
    return "vllm" if vllm_available() else "hf"


def _finish(row: dict, markers: Sequence[str] = DEFAULT_MARKERS) -> dict:
    row = dict(row)
    row["model"] = row.pop("teacher")
    row["answer"] = row_answer(row, markers)
    return output_row(row)


def generate(problems: Sequence[dict], teacher: TeacherConfig, model_path: str, device: Device,
             demo_pool: Sequence[dict] | None = None, markers: Sequence[str] = DEFAULT_MARKERS,
             engines: EngineCache | None = None):
    """Run one teacher over the problems; returns (materialised Ray Dataset, GenerateStats).

    vLLM engines come from `engines` (a run's cache: a stage right after one on the same model
    reuses its engines) or, without one, start and stop with this call."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import ray

    requests = build_requests(problems, teacher, demo_pool)
    engine = choose_engine(teacher)
    own = engines is None and engine == "vllm"
    if own:
        engines = EngineCache()
    # As many replicas as fit in what is free now (a Serve replica may hold CPUs): a replica that
    # cannot start would leave the stage waiting forever. Engines kept up for this very teacher are
    # what it would ask for, so they are counted as free.
    per_replica = engine_actor_resources(engine, device, teacher.tensor_parallel_size)
    spec_for = (lambda n: engine_spec(teacher, model_path, device, n)) if engine == "vllm" else None
    if spec_for is not None and engines.serves(spec_for(teacher.concurrency)):
        replicas = teacher.concurrency
    else:
        if engines is not None:
            engines.release()
        want = {k: v * teacher.concurrency + (ROW_TASK_CPUS if k == "CPU" else 0.0) for k, v in per_replica.items()}
        # What an autoscaler is asked for: each replica's placement bundles (a TP replica's GPUs may be
        # on several nodes), not their sum.
        bundles = (vllm_placement(device, teacher.tensor_parallel_size)["bundles"] if engine == "vllm"
                   else [per_replica]) * teacher.concurrency
        replicas = fit_pool(f"generate {teacher.name}", teacher.concurrency, per_replica,
                            free_resources(want=want, bundles=bundles, stage=f"generate {teacher.name}"),
                            total_resources(), reserve_cpus=ROW_TASK_CPUS)
    if replicas != teacher.concurrency:
        teacher = teacher.model_copy(update={"concurrency": replicas})
    print(f"[generate] {teacher.name}: {len(requests)} requests on {engine}/{device} ({model_path})",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    startup = 0.0
    try:
        if engine == "vllm":
            pool, reused = engines.get(spec_for(replicas), per_replica)
            startup = 0.0 if reused else pool.startup_seconds
            ds = dataset_through_pool(requests, pool, teacher.batch_size)
        else:
            ds = build_hf_generator(teacher, model_path, device)(ray.data.from_items(requests))
        ds = ds.map(partial(_finish, markers=tuple(markers)), num_cpus=ROW_TASK_CPUS)
        ds = materialize(ds, Progress(f"generate {teacher.name}", len(requests)), count_tokens="n_generated_tokens")
    finally:
        if own:
            engines.release()
    seconds = time.perf_counter() - start
    # The token columns of the materialised blocks, read directly: a Ray Data aggregation here was
    # another execution of its own, ~1-2 s a stage.
    counts = pa.concat_tables(ray.get([ref for ref in ds.to_arrow_refs()])).select(
        ["n_prompt_tokens", "n_generated_tokens"])
    stats = GenerateStats(
        teacher=teacher.name, engine=engine, rows=counts.num_rows,
        prompt_tokens=int(pc.sum(counts["n_prompt_tokens"]).as_py() or 0),
        generated_tokens=int(pc.sum(counts["n_generated_tokens"]).as_py() or 0), seconds=seconds,
        startup_seconds=startup,
    )
    if stats.rows != len(requests):
        raise RuntimeError(f"[generate] {teacher.name}: {len(requests)} requests but {stats.rows} rows came back")
    return ds, stats
