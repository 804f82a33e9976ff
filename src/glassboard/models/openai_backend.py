"""Backend for any OpenAI-compatible chat server (vLLM, SGLang, Ollama, LM Studio, llama.cpp, TGI, hosted APIs)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

try:  # openai >= 3 runs on httpx2 (installed with it); older releases on httpx.
    import httpx2 as http_transport
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as http_transport  # type: ignore[no-redef]

from glassboard.models.types import BackendResult, Message, ModelError, SamplingParams, TokenLogprob

# Why plain HTTP + a small SSE parser instead of openai.AsyncOpenAI (changed for the bench runner, issue 5):
# against a loopback server answering after 0.5 s (2,000 requests, 100 concurrent) the SDK cost 3.4-4.3 ms of CPU
# per streamed request (request "transform", a pydantic object per chunk, response draining) plus ~0.7 s to import;
# the same requests on the SDK's own transport (httpx2) with json.loads per chunk cost 1.4-1.9 ms. The wire
# protocol, the error kinds and the messages are unchanged. The pool keeps up to 1000 idle connections alive (the
# SDK kept 100), so 200 concurrent requests do not reconnect every time.
POOL_LIMITS = http_transport.Limits(max_connections=1000, max_keepalive_connections=1000)


class OpenAIBackend:
    """Streams chat completions over HTTP (OpenAI wire format); no transport retries: the model layer retries."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        # The timeout bounds the wait for the first and for every next chunk, so a hung server is caught.
        timeout = http_transport.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self._client = http_transport.AsyncClient(
            timeout=timeout,
            limits=POOL_LIMITS,
            headers={"Authorization": f"Bearer {api_key or 'not-needed'}", "Accept": "text/event-stream"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

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
            async with self._client.stream("POST", url, json=request) as response:
                answered = True
                if response.status_code >= 400:
                    await response.aread()
                    raise _status_error(response, url)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, "event:" lines
                    data = line[5:].strip()
                    if data == "[DONE]":
                        continue  # read on to the end of the body so the connection can be reused
                    chunk = json.loads(data)
                    if not isinstance(chunk, dict):
                        raise ModelError("bad_response", f"invalid response from server: chunk {data[:100]!r}",
                                         url=url)
                    if chunk.get("error"):
                        raise ModelError("bad_response", f"invalid response from server: {chunk['error']}", url=url)
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
        except http_transport.TimeoutException as err:
            if answered:
                raise ModelError("timeout", f"no chunk within {self.timeout_s:g} s", url=url) from err
            raise ModelError("timeout", f"no answer within {self.timeout_s:g} s ({err!r})", url=url) from err
        except (http_transport.TransportError, http_transport.StreamError) as err:
            if answered:
                raise ModelError("truncated", f"the stream broke off: {err!r}", url=url) from err
            raise ModelError("connection", f"cannot reach the server: {err!r}", url=url) from err
        except json.JSONDecodeError as err:
            raise ModelError("bad_response", f"invalid response from server: {err}", url=url) from err
        except (AttributeError, TypeError, KeyError, ValueError) as err:
            raise ModelError("bad_response", f"unexpected response shape: {err!r}", url=url) from err
        if finish_reason is None:
            raise ModelError("truncated", f"the stream ended without a finish reason after {chunks} chunks", url=url)
        yield BackendResult(
            finish_reason=finish_reason,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            logprobs=tuple(logprobs) if params.top_logprobs is not None and logprobs else None,
        )


def _status_error(response: Any, url: str) -> ModelError:
    status = response.status_code
    kind = "rate_limit" if status == 429 else "server" if status >= 500 else "not_found" if status == 404 else "refused"
    retry_after = response.headers.get("retry-after")
    body = response.text[:300].strip()
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    message = f"HTTP {status}: {body or response.reason_phrase}"
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


def api_key_from_env(name: str | None) -> str | None:
    return os.environ.get(name) if name else None
