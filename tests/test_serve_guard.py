"""The request guard alone (no Serve): token, size limit, JSON check, OpenAI error shape, body replay."""
from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from w2s_ray.serve.guard import RequestGuard, token_digest


async def echo(request: Request):
    return JSONResponse({"got": json.loads(await request.body() or b"null")})


def client(api_key: str | None = None, limit: int = 2048) -> TestClient:
    app = Starlette(routes=[Route("/v1/completions", echo, methods=["POST"]), Route("/v1/models", echo)])
    app.add_middleware(RequestGuard, api_key_sha256=token_digest(api_key) if api_key else None,
                       max_request_bytes=limit)
    return TestClient(app)


def assert_openai_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code
    assert "Traceback" not in response.text


def test_a_valid_request_passes_with_its_body_intact():
    response = client().post("/v1/completions", json={"prompt": "x" * 100})
    assert response.status_code == 200 and response.json() == {"got": {"prompt": "x" * 100}}


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic c2VrcmV0", "Bearer "])
def test_without_the_token_every_route_is_refused(header):
    headers = {"Authorization": header} if header else {}
    c = client(api_key="sekret")
    assert_openai_error(c.post("/v1/completions", json={}, headers=headers), 401, "invalid_api_key")
    assert_openai_error(c.get("/v1/models", headers=headers), 401, "invalid_api_key")
    ok = c.post("/v1/completions", json={"a": 1}, headers={"Authorization": "Bearer sekret"})
    assert ok.status_code == 200


def test_bodies_over_the_limit_are_refused_declared_or_streamed():
    c = client(limit=1024)
    assert_openai_error(c.post("/v1/completions", json={"prompt": "x" * 2000}), 413, "request_too_large")

    def chunks():  # no Content-Length: counted while reading
        for _ in range(10):
            yield b" " * 200
    response = c.post("/v1/completions", content=chunks(), headers={"content-type": "application/json"})
    assert_openai_error(response, 413, "request_too_large")


@pytest.mark.parametrize("body", [b"{bad", b"[1, 2]", b"\xff\xfe", b""])
def test_a_post_body_that_is_not_a_json_object_gets_400(body):
    response = client().post("/v1/completions", content=body, headers={"content-type": "application/json"})
    assert_openai_error(response, 400, "invalid_json")
    assert "bad" not in response.json()["error"]["message"]  # the body is not echoed back


@pytest.mark.parametrize("body, field", [
    (b'{"prompt": "\\u0000\\u0000\\ud800"}', "prompt"),  # NULs pass; the lone surrogate is refused
    (b'{"prompt": ["ok", "\\udfff tail"]}', "prompt[1]"),
    (b'{"messages": [{"role": "user", "content": "a\\ud83d"}]}', "messages[0].content"),
    (b'{"prompt": "a", "stop": {"\\ud800": 1}}', "stop.<key>"),
])
def test_a_string_that_is_not_text_gets_400_naming_its_field(body, field):
    response = client().post("/v1/completions", content=body, headers={"content-type": "application/json"})
    assert_openai_error(response, 400, "invalid_text")
    assert f"'{field}'" in response.json()["error"]["message"]


def test_nul_characters_and_surrogate_pairs_are_text():
    body = b'{"prompt": "\\u0000 \\ud83d\\ude00"}'  # NUL, and an escaped pair (one emoji)
    assert client().post("/v1/completions", content=body, headers={"content-type": "application/json"}).status_code == 200


def test_json_nested_past_the_parser_limit_gets_400():
    body = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # 200 KB: json.loads raises RecursionError
    response = client(limit=1 << 20).post("/v1/completions", content=body,
                                          headers={"content-type": "application/json"})
    assert_openai_error(response, 400, "invalid_json")


def capped_client() -> TestClient:
    app = Starlette(routes=[Route("/v1/completions", echo, methods=["POST"]),
                            Route("/v1/chat/completions", echo, methods=["POST"])])
    app.add_middleware(RequestGuard, max_n=4, max_tokens=256, max_prompts=3)
    return TestClient(app)


@pytest.mark.parametrize("path, body", [
    ("/v1/completions", {"prompt": ["a", "b"], "n": 1000}),
    ("/v1/completions", {"prompt": "a", "best_of": 5}),
    ("/v1/completions", {"prompt": "a", "max_tokens": 100_000}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a"}], "max_completion_tokens": 257}),
    ("/v1/completions", {"prompt": ["a", "b", "c", "d"]}),
    ("/v1/completions", {"prompt": [[1, 2], [3], [4], [5]]}),
])
def test_requests_over_the_work_caps_get_400(path, body):
    response = capped_client().post(path, json=body)
    assert_openai_error(response, 400, "request_over_limits")
    assert "at most" in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [
    {"prompt": ["a", "b", "c"], "n": 4, "max_tokens": 256},
    {"prompt": list(range(50))},                       # one prompt as token ids
    {"prompt": "a", "n": "many"},                      # a wrong type is the app's own 400, not ours
])
def test_requests_within_the_caps_pass(body):
    assert capped_client().post("/v1/completions", json=body).status_code == 200
    chat = {"messages": [{"role": "user", "content": "a"}] * 20}  # one conversation, however long
    assert capped_client().post("/v1/chat/completions", json=chat).status_code == 200


def test_serve_config_carries_the_caps():
    from w2s_ray.config import ServeConfig

    assert (ServeConfig().max_n, ServeConfig().max_tokens, ServeConfig().max_prompts) == (8, 1024, 16)


def test_one_client_cannot_hold_more_than_its_share_of_requests():
    import asyncio
    import threading

    release = asyncio.Event()
    entered = threading.Semaphore(0)  # one release per request the guard let through to the handler

    async def slow(request: Request):
        entered.release()
        await asyncio.wait_for(release.wait(), timeout=60)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/v1/completions", slow, methods=["POST"])])
    app.add_middleware(RequestGuard, max_concurrent=2)
    statuses: list[int] = []
    with TestClient(app) as c:
        def post(headers=None):
            statuses.append(c.post("/v1/completions", json={"prompt": "a"}, headers=headers or {}).status_code)

        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        assert entered.acquire(timeout=60) and entered.acquire(timeout=60)  # both in flight
        refused = c.post("/v1/completions", json={"prompt": "a"})
        assert_openai_error(refused, 429, "too_many_concurrent_requests")
        other = threading.Thread(target=post, args=({"Authorization": "Bearer other-client"},))
        other.start()  # another client is not refused
        assert entered.acquire(timeout=60)
        c.portal.call(release.set)
        for t in threads + [other]:
            t.join(timeout=60)
    assert statuses == [200, 200, 200]
