"""vLLM engines that outlive a stage: Ray actors holding a `vllm.LLM`, which Ray Data batches go to.

A run's stages often use one model in a row (a teacher generates, then is evaluated; the student is
evaluated zero- and k-shot, then generates round 1's data). ray.data.llm starts its engine actors
per Dataset, so each such stage paid the engine's start-up again (~20 s of a 4-s evaluation on CPU).
Here a run keeps its engines in an `EngineCache`: a stage that asks for the engines already up (same
model, same engine arguments, same replicas) gets them; anything else, or a stage that needs the
resources (training, scorers that do not fit beside them), releases them first.

Each engine serves one call at a time with `LLM.generate` (vLLM's offline batch API, its fastest
path); a router actor hands batches to idle engines, merging those that wait. An engine whose
process dies is restarted by Ray and the batch it held is sent again (max_restarts, max_task_retries).
"""
from __future__ import annotations

import asyncio
import math
import sys
import time
from dataclasses import dataclass, replace

from w2s_ray.generate.finish import vllm_end
from w2s_ray.raycluster.devices import Device
from w2s_ray.raycluster.free_resources import ROW_TASK_CPUS
from w2s_ray.raycluster.gpu_handoff import HANDOFF_TIMEOUT_S, wait_for_free_gpus

# Restarts of a dead engine, and re-sends of the batch it held: a killed engine process costs its
# start-up, not the stage.
ENGINE_MAX_RESTARTS = 3
# The most requests one engine call takes when the router merges waiting batches, and the most rows
# of one Ray Data batch.
MAX_MERGED_REQUESTS = 2048
# Batches in flight per engine: the one it serves and the next, ready when it is done (each waits in a
# Ray Data task: more only start more Ray workers to wait).
BATCHES_IN_FLIGHT_PER_ENGINE = 2
# The longest a CPU engine's release waits for its actor to die (its CPUs free for the next stage).
ENGINE_EXIT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class EngineSpec:
    """Everything that makes two stages' engines interchangeable. Per-request settings (prompts,
    temperature, seeds, max_tokens, stop) are not here: they travel with each request."""

    model_path: str
    engine_kwargs: tuple  # sorted (name, value) pairs
    env_vars: tuple
    device: Device
    replicas: int
    tensor_parallel_size: int = 1

    def describe(self) -> str:
        return f"{self.replicas} x vLLM({self.model_path})"


class VLLMEngine:
    """One engine replica: vllm.LLM in a Ray actor. Rows in: prompt and sampling_params (a dict)."""

    def __init__(self, model_path: str, engine_kwargs: dict):
        from vllm import LLM

        from w2s_ray.run.kernels import check_pinned

        check_pinned()  # torch's kernels inside vLLM; vLLM's own C++ kernels are its wheel's
        self.llm = LLM(model=model_path, **engine_kwargs)
        self.weights = model_path  # the checkpoint whose weights the engine holds

    def ready(self) -> bool:
        return True

    def load_weights(self, model_dir: str) -> float:
        """New weights of the same model shape, in place (generate/weight_update.py); seconds taken."""
        from w2s_ray.generate.weight_update import load_weights_in_place

        if model_dir == self.weights:
            return 0.0
        seconds = load_weights_in_place(self.llm, model_dir)
        self.weights = model_dir
        return seconds

    def generate(self, requests: list[tuple[str, dict]], weights: str | None = None
                 ) -> list[tuple[str, int, int, str, int]]:
        """(prompt, sampling params) in; (text, prompt tokens, generated tokens, finish_reason,
        stop_token_id) out, in order (generate/finish.py). `weights`: the checkpoint the pool's
        engines hold now; an engine Ray restarted after a crash starts on its first checkpoint and
        loads it here first."""
        from vllm import SamplingParams

        if weights is not None:
            self.load_weights(weights)

        params = [SamplingParams(**dict(p)) for _, p in requests]
        outputs = self.llm.generate([prompt for prompt, _ in requests], params, use_tqdm=False)
        return [(o.outputs[0].text, len(o.prompt_token_ids), len(o.outputs[0].token_ids), *vllm_end(o.outputs[0]))
                for o in outputs]


class EngineRouter:
    """Hands batches to idle engines. Batches that arrive while every engine is busy wait, and go
    to the next idle engine as one call: `LLM.generate` over 256 prompts took 1.3 s here, over the
    same prompts as 4 calls of 64, 3.4 s (bench/generate_throughput.py's model)."""

    def __init__(self, engines: list, max_merged: int = MAX_MERGED_REQUESTS):
        self.idle = list(engines)
        self.waiting: list[tuple[list, asyncio.Future]] = []
        self.max_merged = max_merged
        self.weights: str | None = None  # set once weights were loaded in place (EnginePool.load_weights)

    def set_weights(self, model_dir: str) -> None:
        self.weights = model_dir

    async def generate(self, requests: list[tuple[str, dict]]) -> list[tuple[str, int, int, str, int]]:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((requests, done))
        self._dispatch()
        return await done

    def _dispatch(self) -> None:
        while self.idle and self.waiting:
            take, size = [], 0
            while self.waiting and (not take or size + len(self.waiting[0][0]) <= self.max_merged):
                take.append(self.waiting.pop(0))
                size += len(take[-1][0])
            asyncio.ensure_future(self._run(self.idle.pop(), take))

    async def _run(self, engine, batches: list[tuple[list, asyncio.Future]]) -> None:
        try:
            outputs = await engine.generate.remote([r for requests, _ in batches for r in requests], self.weights)
        except Exception as err:  # the engine died past its restarts: every batch it held fails
            for _, done in batches:
                done.set_exception(err)
        else:
            start = 0
            for requests, done in batches:
                done.set_result(outputs[start:start + len(requests)])
                start += len(requests)
        finally:
            self.idle.append(engine)
            self._dispatch()


class EnginePool:
    """`spec.replicas` engine actors and their router, started and waited for at construction."""

    def __init__(self, spec: EngineSpec, resources: dict[str, float]):
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.spec, self.engines, self.groups, self.router = spec, [], [], None
        kwargs = dict(spec.engine_kwargs)
        options = dict(runtime_env={"env_vars": dict(spec.env_vars)}, max_restarts=ENGINE_MAX_RESTARTS,
                       max_task_retries=ENGINE_MAX_RESTARTS, num_cpus=resources.get("CPU", 1.0), num_gpus=0)
        start = time.perf_counter()
        try:
            for _ in range(spec.replicas):
                if spec.device == "gpu" and spec.tensor_parallel_size > 1:
                    # vLLM's Ray executor places its TP workers in the placement group of the actor
                    # that creates the engine: one GPU bundle per rank, the engine in the first.
                    group = placement_group([{"GPU": 1, "CPU": 1}] * spec.tensor_parallel_size, strategy="PACK")
                    self.groups.append(group)
                    kwargs["distributed_executor_backend"] = "ray"
                    placed = dict(options, num_cpus=1, scheduling_strategy=PlacementGroupSchedulingStrategy(
                        group, placement_group_bundle_index=0, placement_group_capture_child_tasks=True))
                    actor = ray.remote(VLLMEngine).options(**placed).remote(spec.model_path, kwargs)
                else:
                    gpus = resources.get("GPU", 0.0)
                    actor = ray.remote(VLLMEngine).options(**dict(options, num_gpus=gpus)).remote(
                        spec.model_path, kwargs)
                self.engines.append(actor)
            ray.get([e.ready.remote() for e in self.engines])
        except BaseException:
            self.shutdown()
            raise
        self.router = ray.remote(EngineRouter).options(num_cpus=0).remote(self.engines)
        self.startup_seconds = time.perf_counter() - start

    def load_weights(self, model_dir: str) -> float:
        """Every engine loads model_dir's weights in place (no new engine: same shape and tokenizer,
        checked); the pool's spec then names model_dir, so a stage asking for engines on it gets these.
        Returns the seconds until the last engine was done."""
        import ray

        start = time.perf_counter()
        ray.get([engine.load_weights.remote(str(model_dir)) for engine in self.engines])
        ray.get(self.router.set_weights.remote(str(model_dir)))
        self.spec = replace(self.spec, model_path=str(model_dir))
        return time.perf_counter() - start

    def shutdown(self) -> None:
        import ray
        from ray.util.placement_group import remove_placement_group

        for actor in [*self.engines, *([self.router] if self.router is not None else [])]:
            ray.kill(actor, no_restart=True)
        on_gpu = self.spec.device == "gpu" and bool(self.engines)
        if not on_gpu:
            for engine in self.engines:  # returns once the engine is dead: its CPUs are free
                try:
                    ray.get(engine.ready.options(max_task_retries=0).remote(), timeout=ENGINE_EXIT_TIMEOUT_S)
                except ray.exceptions.RayError:
                    pass
        for group in self.groups:
            remove_placement_group(group)
        n_gpus = len(self.engines) * self.spec.tensor_parallel_size
        self.engines, self.groups, self.router = [], [], None
        if on_gpu:
            # Ray freeing the GPUs is not their memory being free (gpu_handoff.py): the probes start
            # once the engines are dead and wait, within a bound, for the memory too.
            wait_for_free_gpus(n_gpus, self.spec.describe(), timeout_s=HANDOFF_TIMEOUT_S)


class EngineCache:
    """A run's live engines: at most one pool at a time (a CPU machine has room for one).
    `weights_in_place` (train.keep_engines): a stage asking for the live engines on another checkpoint
    of their model shape and tokenizer gets them, with that checkpoint's weights loaded in place."""

    def __init__(self, weights_in_place: bool = False):
        self.pool: EnginePool | None = None
        self.weights_in_place = weights_in_place
        self.starts = 0
        self.reuses = 0
        self.weight_loads = 0

    def serves(self, spec: EngineSpec) -> bool:
        """Whether `spec`'s stage can have the live engines: the same spec, or (weights_in_place) the
        same but for a checkpoint of their shape and tokenizer."""
        if self.pool is None:
            return False
        if self.pool.spec == spec:
            return True
        if not self.weights_in_place or replace(self.pool.spec, model_path=spec.model_path) != spec:
            return False
        from w2s_ray.generate.weight_update import check_same_model_shape

        try:
            check_same_model_shape(self.pool.spec.model_path, spec.model_path)
        except (OSError, ValueError) as err:  # another shape or tokenizer: new engines, and why
            print(f"[generate] new engines for {spec.model_path}: {err}", file=sys.stderr, flush=True)
            return False
        return True

    def get(self, spec: EngineSpec, resources: dict[str, float]) -> tuple[EnginePool, bool]:
        """The pool for `spec`, and whether it was already up."""
        if self.serves(spec):
            if self.pool.spec != spec:
                seconds = self.pool.load_weights(spec.model_path)
                self.weight_loads += 1
                print(f"[generate] {spec.describe()}: weights loaded in place in {seconds:.1f} s",
                      file=sys.stderr, flush=True)
            self.reuses += 1
            return self.pool, True
        self.release()
        self.pool = EnginePool(spec, resources)
        self.starts += 1
        return self.pool, False

    def release(self) -> None:
        """Stop the live engines (before a stage that needs their CPUs or GPUs)."""
        if self.pool is not None:
            print(f"[generate] releasing {self.pool.spec.describe()}", file=sys.stderr, flush=True)
            self.pool.shutdown()
            self.pool = None


def generate_batch(batch, router):
    """A Ray Data batch (pyarrow) through the pool's router: adds text, token counts and how it ended."""
    import pyarrow as pa
    import ray

    rows = batch.to_pylist()
    outputs = ray.get(router.generate.remote([(r["prompt"], r["sampling_params"]) for r in rows]))
    for row, (text, n_prompt, n_generated, reason, stop_token) in zip(rows, outputs, strict=True):
        del row["sampling_params"]
        row.update(text=text, n_prompt_tokens=n_prompt, n_generated_tokens=n_generated, finish_reason=reason,
                   stop_token_id=stop_token)
    return pa.Table.from_pylist(rows)


def batch_rows(n_requests: int, min_rows: int, replicas: int) -> int:
    """Rows per Ray Data batch: as many as fit one engine call, since each call ends with a tail where
    its last sequences run alone. 2,000 prompts on the demo's student: one call 11.4 s, 2 calls 12.5 s,
    4 calls 13.3 s (the stage, engine up); plain vllm.LLM 10.3 s. An equal share per engine, at
    least `min_rows` (the teacher's batch_size), at most MAX_MERGED_REQUESTS."""
    return min(MAX_MERGED_REQUESTS, max(min_rows, math.ceil(n_requests / replicas)))


def dataset_through_pool(requests: list[dict], pool: EnginePool, min_rows: int):
    """A lazy Ray Dataset of the requests, each block a batch sent through the pool's router."""
    import ray

    rows = batch_rows(len(requests), min_rows, pool.spec.replicas)
    blocks = max(1, math.ceil(len(requests) / rows))  # Ray Data's default (up to 200) made a task per few rows
    return ray.data.from_items(requests, override_num_blocks=blocks).map_batches(
        generate_batch, fn_kwargs={"router": pool.router}, batch_size=None, batch_format="pyarrow",
        num_cpus=ROW_TASK_CPUS,
        compute=ray.data.TaskPoolStrategy(size=min(blocks, BATCHES_IN_FLIGHT_PER_ENGINE * pool.spec.replicas)))
