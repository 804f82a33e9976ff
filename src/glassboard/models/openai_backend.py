"""Backend for any OpenAI-compatible chat server (vLLM, SGLang, Ollama, LM Studio, llama.cpp, TGI, hosted APIs)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from glassboard.models.types import BackendResult, ErrorKind, Message, ModelError, SamplingParams, TokenLogprob

# Why plain HTTP + a small SSE parser instead of openai.AsyncOpenAI (changed for the bench runner, issue 5):
# against a loopback server answering after 0.5 s (2,000 requests, 100 concurrent) the SDK cost 3.4-4.3 ms of CPU
# per streamed request (request "transform", a pydantic object per chunk, response draining) plus ~0.7 s to import.
# Why aiohttp rather than the SDK's transport (httpx2) (changed for the arena, issue 4): httpx2 parses HTTP in
# Python and scans its whole pool of idle connections on every request; with 100 streams open it cost ~1.7 ms of
# event-loop CPU per streamed answer, about half of the arena's. aiohttp parses with llhttp (C): see
# docs/model-layer.md for the numbers. The wire protocol, the error kinds and the messages are unchanged.
MAX_CONNECTIONS = 1000  # idle keep-alive connections kept too, so 200 concurrent requests do not reconnect


class OpenAIBackend:
    """Streams chat completions over HTTP (OpenAI wire format); no transport retries: the model layer retries."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {api_key or 'not-needed'}", "Accept": "text/event-stream",
                         "Content-Type": "application/json"}
        # The read timeout bounds the wait for the answer's headers and for every next chunk, so a hung server
        # is caught however long a healthy answer streams.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=min(10.0, timeout_s), sock_read=timeout_s)
        # aiohttp sessions belong to the event loop that made them: one per loop (a test or a CLI command may
        # run several loops in turn over one backend).
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxy = proxy_for(self.base_url)

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session of another loop is left alone: its loop owns (or already closed) its sockets.
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=60)
            # trust_env=False: aiohttp would re-read ~/.netrc and the proxy variables on every request (a
            # third of its CPU here); the proxy is resolved once, in __init__.
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()

    async def stream(
        self, model: str, messages: Sequence[Message], params: SamplingParams
    ) -> AsyncIterator[str | BackendResult]:
        url = f"{self.base_url}/chat/completions"
        request: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            request["seed"] = params.seed
        if params.stop:
            request["stop"] = list(params.stop)
        if params.top_logprobs is not None:
            request["logprobs"] = True
            request["top_logprobs"] = params.top_logprobs
        finish_reason: str | None = None
        usage: dict[str, Any] = {}
        logprobs: list[TokenLogprob] = []
        chunks = 0
        answered = False  # response headers received: later timeouts are "no next chunk"
        try:
            body = json.dumps(request).encode()
            async with self._client().post(url, data=body, headers=self._headers, proxy=self._proxy) as response:
                answered = True
                if response.status >= 400:
                    raise _status_error(response, await response.read(), url)
                pending = b""
                async for data in response.content.iter_any():
                    lines = (pending + data).split(b"\n")
                    pending = lines.pop()  # an incomplete last line waits for the next read
                    for line in lines:
                        if not line.startswith(b"data:"):
                            continue  # blank separators, ": keep-alive" comments, "event:" lines
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            continue  # read on to the end of the body so the connection can be reused
                        chunk = json.loads(payload)
                        if not isinstance(chunk, dict):
                            raise ModelError("bad_response", f"invalid response from server: chunk "
                                             f"{payload[:100].decode('utf-8', 'replace')!r}", url=url)
                        if chunk.get("error"):
                            raise ModelError("bad_response", f"invalid response from server: {chunk['error']}",
                                             url=url)
                        if chunk.get("usage"):
                            usage = chunk["usage"]
                        for choice in chunk.get("choices") or ():
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                chunks += 1
                                yield text
                            content = (choice.get("logprobs") or {}).get("content")
                            if content:
                                logprobs.extend(_token_logprobs(content))
                            if choice.get("finish_reason"):
                                finish_reason = choice["finish_reason"]
        except ModelError:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError) as err:
            if answered:
                raise ModelError("timeout", f"no chunk within {self.timeout_s:g} s", url=url) from err
            raise ModelError("timeout", f"no answer within {self.timeout_s:g} s ({err!r})", url=url) from err
        except aiohttp.InvalidURL as err:
            raise ModelError("connection", f"invalid URL {url!r}: {err}", url=url) from err
        except (aiohttp.ClientError, OSError) as err:
            if answered:
                raise ModelError("truncated", f"the stream broke off: {err!r}", url=url) from err
            raise ModelError("connection", f"cannot reach the server: {err!r}", url=url) from err
        except json.JSONDecodeError as err:
            raise ModelError("bad_response", f"invalid response from server: {err}", url=url) from err
        except (AttributeError, TypeError, KeyError, ValueError) as err:
            raise ModelError("bad_response", f"unexpected response shape: {err!r}", url=url) from err
        if finish_reason is None:
            if chunks == 0:  # some servers (llama-cpp-python's) answer 200 and an empty stream for a bad request
                await self._diagnose(url, request)
            raise ModelError("truncated", f"the stream ended without a finish reason after {chunks} chunks", url=url)
        yield BackendResult(
            finish_reason=finish_reason,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            logprobs=tuple(logprobs) if params.top_logprobs is not None and logprobs else None,
        )


    async def _diagnose(self, url: str, request: dict[str, Any]) -> None:
        """Ask once more without streaming (1 token) and raise the server's own error if it gives one: a prompt
        over the server's context window then reads as its 400 "maximum context length", not as a broken stream."""
        probe = {key: value for key, value in request.items() if key not in ("stream", "stream_options")}
        body = json.dumps({**probe, "stream": False, "max_tokens": 1}).encode()
        headers = {**self._headers, "Accept": "application/json"}
        try:
            # A connection of its own: the server may reset the pooled one that carried the empty stream.
            async with aiohttp.ClientSession(timeout=self._timeout, trust_env=False) as session, \
                    session.post(url, data=body, headers=headers, proxy=self._proxy) as response:
                if response.status < 400:
                    return
                error = _status_error(response, await response.read(), url)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return  # no better explanation than the broken stream
        raise error


def _status_error(response: aiohttp.ClientResponse, body: bytes, url: str) -> ModelError:
    status = response.status
    kind: ErrorKind = (
        "rate_limit" if status == 429 else "server" if status >= 500 else "not_found" if status == 404 else "refused"
    )
    retry_after = response.headers.get("retry-after")
    text = body[:300].decode("utf-8", "replace").strip()
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    message = f"HTTP {status}: {text or response.reason or ''}"
    return ModelError(kind, message, url=url, status=status, retry_after=wait)


def _token_logprobs(content: Sequence[Any]) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token=item["token"],
            logprob=float(item["logprob"]),
            top=tuple((alt["token"], float(alt["logprob"])) for alt in (item.get("top_logprobs") or [])),
        )
        for item in content
    ]


def proxy_for(url: str) -> str | None:
    """The proxy the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) sets for `url`, if any."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def api_key_from_env(name: str | None) -> str | None:
    return os.environ.get(name) if name else None
