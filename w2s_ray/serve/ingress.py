"""The OpenAI ingress of ray.serve.llm, with one change: model names survive a checkpoint swap.

The served id names the run and the round (`tiny-round-2`), so it changes at every promotion. During
a swap the ingress and the model replicas are replaced independently (the new ingress starts in
seconds, a new vLLM replica in tens of seconds), and for a while an ingress of one round talks to a
replica of another. Stock ray.serve.llm forwards the requested name and vLLM refuses a name it does
not serve (404), so requests made during the swap would fail. Here the ingress checks the name
against the names this app answers to (the current round's id, the one it replaces, and the run's
name as an alias for "whatever is latest"), then forwards the request without a name: vLLM then
answers with its own served id, so every response says which round produced it.
"""
from __future__ import annotations

from fastapi import status
from ray.llm._internal.common.callbacks.base import CallbackBase
from ray.llm._internal.serve.core.configs.openai_api_models import OpenAIHTTPException
from ray.serve.llm.deployment import LLMServer
from ray.serve.llm.ingress import OpenAiIngress

from w2s_ray.serve.loopback import bind_replica_grpc_on_loopback


class StudentIngress(OpenAiIngress):
    def __init__(self, llm_deployments, model_cards, *, lora_paths=None, accepted_names=(), loopback=False):
        if loopback:
            bind_replica_grpc_on_loopback()
        super().__init__(llm_deployments, model_cards, lora_paths=lora_paths)
        (self._served,) = model_cards  # one model per app: the run's latest student
        self._accepted = {self._served, *accepted_names}

    async def _get_response(self, *, body, call_method, raw_request=None):
        if body.model is not None and body.model not in self._accepted:
            # Raised as ray.serve.llm's own exception so that its handler writes the OpenAI error shape
            # (FastAPI's HTTPException would give {"detail": ...}).
            raise OpenAIHTTPException(
                status_code=status.HTTP_404_NOT_FOUND, type="NotFoundError",
                message=f"model {body.model!r} is not served here; this app serves {self._served!r} "
                        f"(also accepted: {sorted(self._accepted - {self._served})})")
        # The replica that takes it may already run the next round: it answers under its own id.
        body = body.model_copy(update={"model": None})
        async for response in super()._get_response(body=body, call_method=call_method, raw_request=raw_request):
            yield response


class StudentLLMServer(LLMServer):
    """ray.serve.llm's model server on its engine with one process fewer on one device (engine.py)."""

    def _get_default_engine_class(self):
        from w2s_ray.serve.engine import OneDeviceInProcessEngine

        return OneDeviceInProcessEngine


class LoopbackLLMServer(StudentLLMServer):
    """The model server, its replica's internal gRPC server bound to 127.0.0.1."""

    async def __init__(self, *args, **kwargs):
        bind_replica_grpc_on_loopback()
        await super().__init__(*args, **kwargs)


class SkipNodeInit(CallbackBase):
    """Skips ray.serve.llm's per-node model "download" before a replica starts its engine.

    For a model on a path that step is one Ray task per node whose `download_model_files` returns the
    path unchanged (it fetches only from a cloud mirror or an s3:// / gs:// source), but each task is a
    new worker process (in the engine's runtime env) that imports torch and transformers first: several
    seconds of a 2-CPU machine at every replica start, so at every swap. The app always serves a
    promoted snapshot's path (promotion.py), so the step never had anything to fetch.
    """

    async def on_before_node_init(self) -> None:
        self.ctx.run_init_node = False
