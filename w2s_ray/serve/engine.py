"""ray.serve.llm's vLLM engine, with one process fewer in a replica that runs on one device.

ray.serve.llm gives vLLM the multiprocessing executor on CPU (`distributed_executor_backend="mp"`,
forced in its VLLMEngineConfig), so a one-device CPU replica runs three Python processes that each
import vLLM and torch: the replica, vLLM's engine core, and one worker process that runs the model.
vLLM's own default for one device is the "uni" executor, which runs the model in the engine core:
a replica (so a swap) starts one process and ~10 s of imports sooner on a 2-CPU machine. Replicas
on several devices (tensor parallel, and every GPU replica, which uses Ray's executor) are untouched.
"""
from __future__ import annotations

from ray.llm._internal.serve.engines.vllm.vllm_engine import VLLMEngine


class OneDeviceInProcessEngine(VLLMEngine):
    def _prepare_engine_config(self, callback_ctx):
        engine_args, frontend_args, config = super()._prepare_engine_config(callback_ctx)
        parallel = config.parallel_config
        if parallel.world_size == 1 and parallel.distributed_executor_backend == "mp":
            parallel.distributed_executor_backend = "uni"
            engine_args.distributed_executor_backend = "uni"
        return engine_args, frontend_args, config
