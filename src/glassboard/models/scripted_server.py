"""A scripted OpenAI-compatible server on loopback, for tests and benchmarks: fixed latency and injected faults.

The scenario is the first path segment, so one server serves every case (GET /stats: requests per scenario;
GET /stats/prompts: requests per prompt, keyed by sha256[:16] of the last user message):
  /ok/v1           answers "The answer is 42." (stream or not) after `latency` seconds
  /echo/v1         answers with the last user message, verbatim
  /replay/v1       answers with the recorded reply for this prompt (`replies`: sha256[:16] of the user message ->
                   text), 404 for a prompt without one: replays a published model's generations
  /drip50ms/v1     the answer, one chunk every 50 ms
  /status500x2/v1  HTTP 500 for the first 2 requests of this scenario, then ok (also 429, 503, 404, 401)
  /hang/v1         accepts the request and never answers
  /truncate/v1     streams two chunks, then closes without a finish reason
  /badjson/v1      streams a chunk that is not JSON
  /empty/v1        finishes with no text
  /flood3x1000/v1  ignores max_tokens: streams 3 chunks of 1000 bytes each (any counts), then finishes
  /surrogate/v1    streams a lone UTF-16 surrogate (valid JSON "\\ud800", not encodable as UTF-8) in its answer
Long-context scenarios (issue 13); their "tokens" are whitespace-separated words, POST /SCENARIO/tokenize
({"content": text} -> {"tokens": [...]}, as llama.cpp's server) counts them, and usage reports them:
  /forgetX/v1      a model that reads only the first X tokens of the user message: answers with those words (one
                   chunk);
                   usage.prompt_tokens is the whole prompt (the server received everything)
  /cutX/v1         a provider that silently keeps only the last X tokens of the prompt: answers with the kept words
                   of the user message; usage.prompt_tokens counts what was kept
  ...-nousage      (suffix, e.g. /forget900-nousage/v1) the same without a usage chunk
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_ANSWER = "The answer is 42."


def build_app(latency: float = 0.0, answer: str = DEFAULT_ANSWER,
              replies: Mapping[str, str] | None = None) -> Starlette:
    counts: Counter[str] = Counter()  # requests seen per scenario, owned by this app instance
    # Requests per prompt (sha256[:16] of the last user message), so a test can check no prompt was asked twice.
    prompts: Counter[str] = Counter()

    async def chat(request: Request) -> Response:
        scenario = request.path_params["scenario"]
        counts[scenario] += 1
        body = await request.json()
        user = next((m.get("content") for m in reversed(body.get("messages") or []) if m.get("role") == "user"), "")
        digest = hashlib.sha256(str(user).encode()).hexdigest()[:16]
        prompts[digest] += 1
        if latency:
            await asyncio.sleep(latency)
        failing = re.fullmatch(r"status(\d{3})x(\d+)", scenario)
        if failing and counts[scenario] <= int(failing.group(2)):
            status = int(failing.group(1))
            headers = {"retry-after": "0"} if status == 429 else {}
            return JSONResponse({"error": {"message": f"scripted {status}"}}, status_code=status, headers=headers)
        if scenario == "hang":
            await asyncio.sleep(3600)
        text = answer
        if scenario == "echo":
            text = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        if scenario == "empty":
            text = ""
        if scenario == "replay":
            if replies is None or digest not in replies:
                return JSONResponse({"error": {"message": f"no recorded reply for prompt {digest}"}}, status_code=404)
            text = replies[digest]
        usage_tokens = 10
        window = re.fullmatch(r"(forget|cut)(\d+)(-nousage)?", scenario)
        if window:
            text, usage_tokens = _window_answer(body, window.group(1), int(window.group(2)))
        if not body.get("stream"):
            return JSONResponse(_completion(body, text))
        return StreamingResponse(_events(body, text, scenario, usage_tokens), media_type="text/event-stream")

    async def tokenize(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"tokens": list(range(len(str(body.get("content", "")).split())))})

    async def stats(request: Request) -> Response:
        return JSONResponse(dict(counts))

    async def prompt_stats(request: Request) -> Response:
        return JSONResponse(dict(prompts))

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    return Starlette(
        routes=[
            Route("/{scenario}/v1/chat/completions", chat, methods=["POST"]),
            Route("/{scenario}/v1/models", models),
            Route("/{scenario}/tokenize", tokenize, methods=["POST"]),
            Route("/stats", stats),
            Route("/stats/prompts", prompt_stats),
        ]
    )


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> str:
    data = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(data)}\n\n"


def _window_answer(body: dict[str, Any], kind: str, limit: int) -> tuple[str, int]:
    """(answer, prompt tokens) of the forgetX / cutX scenarios; tokens are whitespace-separated words."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    total = sum(len(str(m.get("content", "")).split()) for m in messages)
    user = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "").split()
    if kind == "forget":
        return " ".join(user[:limit]) or "nothing", total
    kept = user[max(0, len(user) - (limit - (total - len(user)))):] if total > limit else user
    return " ".join(kept) or "nothing", min(total, limit)


async def _events(body: dict[str, Any], text: str, scenario: str, usage_tokens: int = 10) -> AsyncIterator[str]:
    words = re.findall(r"\S+\s*", text) or [""]
    flood = re.fullmatch(r"flood(\d+)x(\d+)", scenario)
    if flood:
        words = ["x" * (int(flood.group(2)) - 1) + " "] * int(flood.group(1))
    if re.fullmatch(r"(forget|cut)\d+(-nousage)?", scenario):
        words = [text]  # the visible window in one chunk (it ignores max_tokens, like a model that never stops)
    if scenario == "surrogate":
        words = ["Hello ", "\ud800", " world"]
    if scenario == "badjson":
        yield _chunk(body, {"role": "assistant", "content": words[0]}, None)
        yield "data: {this is not json\n\n"
        return
    drip = re.fullmatch(r"drip(\d+)ms", scenario)  # one chunk every N ms (a slow model, for mid-answer tests)
    for i, word in enumerate(words):
        if scenario == "truncate" and i == 2:
            return
        if drip and i:
            await asyncio.sleep(int(drip.group(1)) / 1000)
        yield _chunk(body, {"role": "assistant", "content": word} if i == 0 else {"content": word}, None)
    yield _chunk(body, {}, "stop")
    if scenario.endswith("-nousage"):
        yield "data: [DONE]\n\n"
        return
    usage = {"prompt_tokens": usage_tokens, "completion_tokens": len(words), "total_tokens": usage_tokens + len(words)}
    final = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": body.get("model", "scripted"), "choices": [], "usage": usage}
    yield f"data: {json.dumps(final)}\n\n"
    yield "data: [DONE]\n\n"


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 10},
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScriptedServer:
    """Run the scripted app with uvicorn on a loopback port in a background thread (a context manager)."""

    def __init__(self, latency: float = 0.0, answer: str = DEFAULT_ANSWER, port: int | None = None,
                 replies: Mapping[str, str] | None = None, app: Starlette | None = None):
        """`app` serves another scripted app (e.g. glassboard.judge.scripted's judges) instead of this module's."""
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(
            app or build_app(latency, answer, replies), host="127.0.0.1", port=self.port, log_level="warning",
            lifespan="off", timeout_keep_alive=30, backlog=4096,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def base_url(self, scenario: str = "ok") -> str:
        return f"http://127.0.0.1:{self.port}/{scenario}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"scripted server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=5)
