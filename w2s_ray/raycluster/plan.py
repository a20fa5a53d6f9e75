"""`w2s plan CONFIG`: what each stage of a run will ask the Ray cluster for, checked against a cluster.

Nothing is loaded or started: the asks are computed from the config with the same rules the stages
use (raycluster/devices.py for placement, TeacherConfig for replicas and tensor parallelism, TrainConfig for
workers). Stages run one after another, so each must fit the cluster on its own; a Ray Data actor
pool or a Ray Train worker group that does not fit waits forever instead of failing, which is why
this check exists. Serve runs beside the loop (`w2s run --serve`), so with `serve` it is added to
every stage, and a checkpoint swap briefly holds two replicas.
"""
from __future__ import annotations

import importlib.util
import socket
from dataclasses import dataclass

from w2s_ray.config import RunConfig, TeacherConfig
from w2s_ray.raycluster.devices import engine_actor_resources
from w2s_ray.recipes.base import recipe_config
from w2s_ray.score.stage import ScorerSpec
from w2s_ray.train.config import TrainConfig


@dataclass(frozen=True)
class Ask:
    stage: str
    what: str
    units: int  # replicas / workers, all needed at once
    gpus: float  # per unit
    cpus: float  # per unit
    one_actor: bool = True  # a unit is one Ray actor, so it must fit on one node (a vLLM TP replica is
    # one bundle per GPU and may span nodes)

    @property
    def total(self) -> dict[str, float]:
        return {"GPU": self.units * self.gpus, "CPU": self.units * self.cpus}


def _engine(teacher: TeacherConfig) -> str:
    if teacher.engine != "auto":
        return teacher.engine
    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"  # found, not imported


@dataclass(frozen=True)
class StageAsks:
    """What a recipe's stages ask for, by the stages' own rules; a recipe's config module lists its
    stages with these (recipes/base.py, `plan_asks`)."""
    config: RunConfig
    device: str
    cluster_cpus: float | None = None

    def generate(self, stage: str, teacher: TeacherConfig) -> Ask:
        engine, tp = _engine(teacher), teacher.tensor_parallel_size
        res = engine_actor_resources(engine, self.device, tp)  # what the generate stage sizes its pool by
        if engine == "vllm" and self.device == "gpu":
            return Ask(stage, f"vLLM engine, TP {tp}", teacher.concurrency, res["GPU"], res["CPU"], one_actor=tp == 1)
        what = "vLLM engine (CPU)" if engine == "vllm" else "HF engine"
        return Ask(stage, what, teacher.concurrency, res["GPU"], res["CPU"])

    def train(self, stage: str, train: TrainConfig | None = None) -> Ask:
        t = train or self.config.train
        cpus = t.cpus_per_worker
        if cpus is None:  # devices.train_scaling's rule
            cpus = 1.0 if self.device == "gpu" else min(1.0, (self.cluster_cpus or t.num_workers) / t.num_workers)
        zero = {"zero2": "ZeRO-2", "zero3": "ZeRO-3"}.get(t.deepspeed or "", f"DeepSpeed {t.deepspeed}")
        extras = [zero if t.deepspeed else "no DeepSpeed",
                  f"LoRA r={t.lora.r}" if t.lora else "full fine-tuning"]
        return Ask(stage, f"Ray Train + TRL {t.objective.upper()}, {', '.join(extras)}", t.num_workers,
                   t.gpus_per_worker if self.device == "gpu" else 0.0, cpus)

    def actors(self, stage: str, what: str, units: int, gpus: float, cpus: float) -> Ask:
        return Ask(stage, what, units, gpus, cpus)

    def scorer(self, spec: ScorerSpec) -> Ask:
        import w2s_ray.score  # noqa: F401  (registers the built-in scorers, whose classes declare resources)

        res = spec.resources()
        return Ask(f"score {spec.name}", "scorer actors", spec.concurrency, res["num_gpus"], res["num_cpus"])


def stage_asks(config: RunConfig, device: str, cluster_cpus: float | None = None) -> list[Ask]:
    """One Ask per kind of stage the run has: the stages every recipe shares (weak teachers, the
    strong model's generation, the configured scorers, SFT), then the recipe's own from the
    `plan_asks(config, asks)` of its config part (recipes/base.py), when it has one."""
    asks = StageAsks(config, device, cluster_cpus)
    sft = config.train.model_copy(update={"objective": "sft"})
    out = [asks.generate(f"generate weak/{t.name}", t) for t in config.weak]
    if any(t.sft_on_weak_half for t in config.weak):
        out.append(asks.train("train weak teacher (weak half's gold)", sft))
    out.append(asks.generate(f"generate {config.strong.name} (k-shot, eval, students)", config.strong))
    out += [asks.scorer(spec) for spec in config.scorers]
    out.append(asks.train("train (SFT)", sft))
    return out + recipe_config(config.recipe).plan_asks(config, asks)


def serve_ask(config: RunConfig, device: str) -> Ask:
    # serve/app.py: serve.replicas replicas, each the strong model's engine GPUs (devices.vllm_placement:
    # a GPU and a CPU per tensor x pipeline rank) or serve.num_cpus on CPU; max_surge 100% starts the
    # next round's replicas before the old ones stop.
    n = config.serve.replicas
    during = f"{n} x vLLM replica" if n > 1 else "vLLM replica"
    if device == "gpu":
        gpus = config.strong.engine_gpus
        ranks = f", {gpus} GPUs each" if gpus > 1 else ""
        return Ask("serve", f"{during}{ranks} ({2 * n} during a swap)", 2 * n, float(gpus), float(gpus),
                   one_actor=gpus == 1)
    return Ask("serve", f"{during}, CPU ({2 * n} during a swap)", 2 * n, 0.0, config.serve.num_cpus)


def parse_cluster(text: str) -> dict[str, float]:
    """`gpus=4,cpus=16[,gpus_per_node=2]` -> {"GPU": 4, "CPU": 16, "node_GPU": 2} (node_GPU: the most
    GPUs one node has; all of them when not given)."""
    out = {}
    names = {"gpus": "GPU", "gpu": "GPU", "cpus": "CPU", "cpu": "CPU", "gpus_per_node": "node_GPU"}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        name = names.get(key.strip().lower())
        if not eq or name is None:
            raise ValueError(f"--cluster {text!r}: expected gpus=N,cpus=N[,gpus_per_node=N]")
        out[name] = float(value)
    gpus = out.get("GPU", 0.0)
    return {"GPU": gpus, "CPU": out.get("CPU", 0.0), "node_GPU": out.get("node_GPU", gpus)}


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
    return problems


def format_plan(config: RunConfig, device: str, asks: list[Ask], serve: Ask) -> str:
    rows = [("stage", "asks for", "units", "per unit", "total")]
    for a in [*asks, serve]:
        rows.append((a.stage, a.what, str(a.units), f"{a.gpus:g} GPU, {a.cpus:g} CPU",
                     f"{a.total['GPU']:g} GPU, {a.total['CPU']:g} CPU"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"plan for {config.name!r} on {device}:"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
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
    asks = stage_asks(config, device, cluster["CPU"] if cluster else None)
    print(format_plan(config, device, asks, serve_ask(config, device)))
    if cluster is None:
        print(f"{source}; nothing checked (declare one with --cluster gpus=N,cpus=N)")
        return 0
    print(f"checked against {source}: {cluster['GPU']:g} GPUs ({cluster['node_GPU']:g} on the largest node), "
          f"{cluster['CPU']:g} CPUs")
    problems = check(asks, cluster, serve_ask(config, device) if with_serve else None)
    for line in problems:
        print(f"  does not fit: {line}")
    if not problems:
        print("  every stage fits" + (" with serve beside it" if with_serve else ""))
    return 1 if problems else 0

