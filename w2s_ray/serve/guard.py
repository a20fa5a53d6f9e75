"""The ASGI middleware in front of ray.serve.llm's OpenAI app: what it lacks, written by hand.

ray.serve.llm (2.60) has no bearer-token check and no request size limit, and a body that is not a
JSON object reaches FastAPI's validation. This middleware, outermost in the ingress app, answers
before anything else runs:
  401  a bearer token is configured and the request does not carry it;
  413  the body is larger than max_request_bytes (by Content-Length, or counted while reading);
  400  a POST body that is not a JSON object, one whose strings are not text (a lone UTF-16
       surrogate such as "\ud800" is valid JSON but no Unicode: the tokenizer's UTF-8 encode raised
       and the app answered 500), or one that asks for more work than the caps allow:
       `n` (or `best_of`) over max_n, `max_tokens` / `max_completion_tokens` over max_tokens, a
       batch of more than max_prompts prompts. A request with "n": 1000 over two
       prompts was answered (2,000 completions on 2 cores), starving every other client.
  429  the client (its address and bearer token) already has max_concurrent requests in flight, so
       one client cannot starve the others (a swap halves the replicas for a while).
Every refusal is an OpenAI-shaped JSON error, {"error": {"message", "type", "param", "code"}}, never
a stack trace. Everything else passes through untouched, the body replayed from the buffer.

The token itself is never stored: the middleware gets its sha256 (it travels inside the deployment
definition, through Ray's GCS), and compares digests in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import json

_JSON_TYPES = (b"application/json", b"")  # clients that send no Content-Type still send JSON


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def error_body(status: int, message: str, type_: str, code: str) -> bytes:
    """The OpenAI error shape, as the openai client parses it into APIStatusError."""
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


class RequestGuard:
    """Pure ASGI (not BaseHTTPMiddleware): it must see the raw body stream to bound it."""

    def __init__(self, app, *, api_key_sha256: str | None = None, max_request_bytes: int = 1 << 20,
                 max_n: int = 8, max_tokens: int = 1024, max_prompts: int = 16, max_concurrent: int = 8):
        self.app = app
        self.api_key_sha256 = api_key_sha256
        self.max_request_bytes = max_request_bytes
        self.caps = {"n": max_n, "max_tokens": max_tokens, "prompts": max_prompts}
        self.max_concurrent = max_concurrent
        self.in_flight: dict[tuple, int] = {}  # one event loop per ingress replica: no lock needed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.api_key_sha256 is not None and not self._authorized(headers.get(b"authorization", b"")):
            return await _refuse(send, 401, "a valid bearer token is required (Authorization: Bearer <key>)",
                                 "authentication_error", "invalid_api_key", {b"www-authenticate": b"Bearer"})
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_request_bytes):
            return await _refuse(send, 413, f"request body over the limit of {self.max_request_bytes} bytes "
                                 f"(Content-Length: {declared.decode(errors='replace')})",
                                 "invalid_request_error", "request_too_large")
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_request_bytes:
                return await _refuse(send, 413, f"request body over the limit of {self.max_request_bytes} bytes",
                                     "invalid_request_error", "request_too_large")
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip()
        if scope.get("method") == "POST" and content_type in _JSON_TYPES:
            problem = _not_a_json_object(bytes(body))
            if problem:
                return await _refuse(send, 400, f"the request body must be a JSON object: {problem}",
                                     "invalid_request_error", "invalid_json")
            request = json.loads(body)
            field = _field_not_text(request)
            if field:
                return await _refuse(send, 400, f"'{field[:200]}' holds a lone UTF-16 surrogate, which is not text",
                                     "invalid_request_error", "invalid_text")
            over = _over_caps(request, self.caps)
            if over:
                return await _refuse(send, 400, over, "invalid_request_error", "request_over_limits")
        # A client is its address and its credentials (on loopback the address alone says little).
        client = ((scope.get("client") or ("?",))[0], token_digest(headers.get(b"authorization", b"").decode("latin-1")))
        if self.in_flight.get(client, 0) >= self.max_concurrent:
            return await _refuse(send, 429, f"this client already has {self.max_concurrent} requests in flight; "
                                 "retry when one finishes", "rate_limit_error", "too_many_concurrent_requests")
        self.in_flight[client] = self.in_flight.get(client, 0) + 1
        try:
            return await self.app(scope, _replay(bytes(body), receive), send)
        finally:
            self.in_flight[client] -= 1
            if not self.in_flight[client]:
                del self.in_flight[client]

    def _authorized(self, header: bytes) -> bool:
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return hmac.compare_digest(token_digest(token.strip()), self.api_key_sha256)


def _not_a_json_object(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"not valid JSON ({err})"  # names a position, never echoes the body
    except RecursionError:
        return "nested too deeply"
    if not isinstance(value, dict):
        return f"got a JSON {type(value).__name__}"
    return None


def _field_not_text(request: dict) -> str | None:
    """The path of the first string (key or value) that cannot be encoded as UTF-8, or None."""
    stack: list[tuple[str, object]] = [("", request)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not _is_text(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _is_text(key):
                    return f"{path}.<key>" if path else "<key>"
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _over_caps(request: dict, caps: dict[str, int]) -> str | None:
    """Why the request asks for too much work, or None. Only well-typed values are judged here: a
    wrong type is the OpenAI app's own 400."""
    for field in ("n", "best_of"):
        value = request.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > caps["n"]:
            return f"'{field}' is {value}; this server allows at most {caps['n']} completions per prompt"
    for field in ("max_tokens", "max_completion_tokens"):
        value = request.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > caps["max_tokens"]:
            return f"'{field}' is {value}; this server allows at most {caps['max_tokens']}"
    prompt = request.get("prompt")
    # A list of strings (or of token lists) is a batch of prompts; a list of ints is one prompt, and
    # a chat's messages are one conversation.
    if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int) and len(prompt) > caps["prompts"]:
        return f"'prompt' has {len(prompt)} prompts; this server allows at most {caps['prompts']} per request"
    return None


def _replay(body: bytes, receive):
    """The buffered body once, then the real channel (a later disconnect still gets through)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send, status: int, message: str, type_: str, code: str, extra_headers: dict | None = None):
    payload = error_body(status, message, type_, code)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    headers += list((extra_headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
