"""Accuracy by level through an OpenAI-compatible endpoint, with the `openai` client.

The same evaluation as the loop's eval stages, but the model answers over HTTP: the same requests
(generate.stage.build_requests: prompt, greedy settings, stop strings, per-sample seed), the same
answer extraction (text.answers.extract_answer, style "auto", as the generate stage does) and the
same scorers (score.stage.score_rows, the run's scorer specs) and table (eval.accuracy). So at
temperature 0 it reproduces the in-process evaluation of the same checkpoint (a test holds it to it).
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from w2s_ray.config import EvalConfig, RunConfig, TeacherConfig
from w2s_ray.eval.accuracy import accuracy_by_model
from w2s_ray.generate.finish import NO_TOKEN
from w2s_ray.generate.stage import build_requests, output_row, row_answer
from w2s_ray.score.stage import ScorerSpec, score_rows


class EndpointError(RuntimeError):
    """The endpoint refused or failed a request; the message names the problem and the status."""


@dataclass
class EndpointEval:
    model: str  # the id the endpoint answered with (it names the run and the round)
    rows: list[dict]  # scored rows, one per problem and sample, as an eval stage writes them
    table: dict  # accuracy_by_model(rows)


def eval_settings(config: RunConfig | None = None, max_tokens: int | None = None):
    """(teacher, scorers) as the loop evaluates a student: greedy, zero-shot, one sample (see
    loop.context.RunContext.eval_teacher). Without a run config: the defaults of RunConfig."""
    if config is None:
        base = TeacherConfig(name="endpoint", model="endpoint", role="strong")
        scorers = RunConfig.model_fields["scorers"].default_factory()
        default_max = EvalConfig().max_tokens
    else:
        base, scorers, default_max = config.strong, config.scorers, config.eval.max_tokens
    teacher = base.model_copy(update={"name": "endpoint", "shots": 0, "n": 1, "temperature": 0.0,
                                      "max_tokens": max_tokens or default_max})
    return teacher, scorers


def base_url(endpoint: str) -> str:
    """The client's base URL: the endpoint with /v1, as users paste it either way."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1") else endpoint + "/v1"


def evaluate_endpoint(endpoint: str, problems: Sequence[dict], teacher: TeacherConfig,
                      scorers: Sequence[ScorerSpec | dict | str], *, model: str | None = None,
                      api_key: str | None = None, concurrency: int = 4, timeout: float = 300.0) -> EndpointEval:
    """Ask the endpoint every problem (problem-schema rows) and score the answers."""
    from openai import OpenAI

    # The client insists on a key; a server without auth ignores the header.
    client = OpenAI(base_url=base_url(endpoint), api_key=api_key or "unused", timeout=timeout, max_retries=2)
    model = model or _only_model(client)
    requests = build_requests(problems, teacher, demo_pool=None)

    def ask(request: dict) -> dict:
        sp = request["sampling_params"]
        try:
            response = client.completions.create(
                model=model, prompt=request["prompt"], max_tokens=sp["max_tokens"], temperature=sp["temperature"],
                top_p=sp["top_p"], seed=sp["seed"], stop=sp["stop"] or None)
        except Exception as err:  # openai.APIError and connection errors alike: say which problem
            raise EndpointError(f"problem {request['problem_id']!r}: {type(err).__name__}: {err}") from err
        text = response.choices[0].text
        row = {**request, "model": response.model, "text": text, "answer": "",
               "n_prompt_tokens": response.usage.prompt_tokens if response.usage else 0,
               "n_generated_tokens": response.usage.completion_tokens if response.usage else 0,
               # the API says why it stopped, not on which token (generate/finish.py)
               "finish_reason": response.choices[0].finish_reason or "", "stop_token_id": NO_TOKEN}
        row["answer"] = row_answer(row)
        return output_row(row)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        rows = list(pool.map(ask, requests))
    rows = score_rows(rows, scorers)
    answered = sorted({r["model"] for r in rows})
    return EndpointEval(model=answered[0] if len(answered) == 1 else ",".join(answered), rows=rows,
                        table=accuracy_by_model(rows))


def _only_model(client) -> str:
    ids = [m.id for m in client.models.list().data]
    if len(ids) != 1:
        raise EndpointError(f"the endpoint serves {ids}; name one with --model")
    return ids[0]
