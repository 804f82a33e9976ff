"""Backend for any OpenAI-compatible chat server (vLLM, SGLang, Ollama, LM Studio, llama.cpp, TGI, hosted APIs)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

try:  # openai >= 3 runs on httpx2; older releases on httpx. Mid-stream transport errors surface raw.
    import httpx2 as http_transport
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as http_transport  # type: ignore[no-redef]

from glassboard.models.types import BackendResult, Message, ModelError, SamplingParams, TokenLogprob


class OpenAIBackend:
    """Streams chat completions through the official SDK; SDK retries are off because the model layer retries."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        # The timeout bounds the wait for the first and for every next chunk, so a hung server is caught.
        timeout = http_transport.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=0,
        )

    async def aclose(self) -> None:
        await self._client.close()

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
        usage: Any = None
        logprobs: list[TokenLogprob] = []
        chunks = 0
        try:
            response = await self._client.chat.completions.create(**request)
            async for chunk in response:
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    delta = getattr(choice, "delta", None)
                    text = getattr(delta, "content", None) if delta is not None else None
                    if text:
                        chunks += 1
                        yield text
                    if choice.logprobs is not None and choice.logprobs.content:
                        logprobs.extend(_token_logprobs(choice.logprobs.content))
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        except ModelError:
            raise
        except openai.APITimeoutError as err:
            raise ModelError("timeout", f"no answer within {self.timeout_s:g} s ({err})", url=url) from err
        except openai.APIConnectionError as err:
            cause = err.__cause__ or err
            raise ModelError("connection", f"cannot reach the server: {cause}", url=url) from err
        except openai.RateLimitError as err:
            raise _status_error("rate_limit", err, url) from err
        except openai.APIStatusError as err:
            kind = "server" if err.status_code >= 500 else "not_found" if err.status_code == 404 else "refused"
            raise _status_error(kind, err, url) from err
        except (json.JSONDecodeError, openai.APIResponseValidationError, openai.APIError) as err:
            raise ModelError("bad_response", f"invalid response from server: {err}", url=url) from err
        except http_transport.TimeoutException as err:
            raise ModelError("timeout", f"no chunk within {self.timeout_s:g} s", url=url) from err
        except (http_transport.TransportError, http_transport.StreamError) as err:
            raise ModelError("truncated", f"the stream broke off: {err!r}", url=url) from err
        except (AttributeError, TypeError, KeyError, ValueError) as err:
            raise ModelError("bad_response", f"unexpected response shape: {err!r}", url=url) from err
        if finish_reason is None:
            raise ModelError("truncated", f"the stream ended without a finish reason after {chunks} chunks", url=url)
        yield BackendResult(
            finish_reason=finish_reason,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            logprobs=tuple(logprobs) if params.top_logprobs is not None and logprobs else None,
        )


def _status_error(kind: Any, err: openai.APIStatusError, url: str) -> ModelError:
    retry_after = err.response.headers.get("retry-after") if err.response is not None else None
    body = (err.response.text[:300] if err.response is not None else str(err)).strip()
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    message = f"HTTP {err.status_code}: {body or err.message}"
    return ModelError(kind, message, url=url, status=err.status_code, retry_after=wait)


def _token_logprobs(content: Sequence[Any]) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token=item.token,
            logprob=float(item.logprob),
            top=tuple((alt.token, float(alt.logprob)) for alt in (item.top_logprobs or [])),
        )
        for item in content
    ]


def api_key_from_env(name: str | None) -> str | None:
    return os.environ.get(name) if name else None
