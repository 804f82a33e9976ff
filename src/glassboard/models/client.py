"""A variant bound to its backend: system prompt, parameter merging, retries with backoff, and timing."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from glassboard.models.registry import Variant
from glassboard.models.types import BackendResult, Completion, Message, ModelError, SamplingParams


class Backend(Protocol):
    """What a backend does: stream text chunks for a chat, then one BackendResult."""

    def stream(
        self, model: str, messages: Sequence[Message], params: SamplingParams
    ) -> AsyncIterator[str | BackendResult]: ...

    async def aclose(self) -> None: ...


class Model:
    """The one async interface the rest of glassboard uses to talk to a model variant."""

    def __init__(self, variant: Variant, backend: Backend):
        self.variant = variant
        self.backend = backend
        self.max_retries = int(variant.option("max_retries", 3))
        self.retry_base_s = float(variant.option("retry_base_s", 0.5))

    @property
    def name(self) -> str:
        return self.variant.name

    def messages_for(self, messages: str | Sequence[Message]) -> list[Message]:
        """Prepend the variant's system prompt (unless the chat already starts with one)."""
        chat = [{"role": "user", "content": messages}] if isinstance(messages, str) else [dict(m) for m in messages]
        for i, message in enumerate(chat):
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                raise ModelError("refused", f"message {i} must be a dict with role system/user/assistant")
            if not isinstance(message.get("content"), str):
                raise ModelError("refused", f"message {i} has no text content")
        if self.variant.system_prompt and not (chat and chat[0]["role"] == "system"):
            chat.insert(0, {"role": "system", "content": self.variant.system_prompt})
        return chat

    async def stream(self, messages: str | Sequence[Message], **overrides: Any) -> AsyncIterator[str | Completion]:
        """Yield text chunks, then a Completion. Errors before the first chunk are retried; later ones raise."""
        params = self.variant.params.merged(**overrides)
        chat = self.messages_for(messages)
        attempt = 0
        while True:
            started = time.perf_counter()
            first: float | None = None
            parts: list[str] = []
            result: BackendResult | None = None
            try:
                async for event in self.backend.stream(self.variant.model, chat, params):
                    if isinstance(event, BackendResult):
                        result = event
                        continue
                    if first is None:
                        first = time.perf_counter() - started
                    parts.append(event)
                    yield event
            except ModelError as err:
                if parts or not err.retryable or attempt >= self.max_retries:
                    raise
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, err))
                continue
            total = time.perf_counter() - started
            text = "".join(parts)
            if result is None:
                raise ModelError("truncated", "the backend ended without a final result")
            if not text.strip():
                raise ModelError("empty", f"the model returned no text (finish reason: {result.finish_reason})")
            yield Completion(
                text=text,
                finish_reason=result.finish_reason,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                ttft_s=first,
                total_s=total,
                logprobs=result.logprobs,
            )
            return

    async def complete(self, messages: str | Sequence[Message], **overrides: Any) -> Completion:
        """The whole answer; retryable failures (even mid-stream) restart the request, up to max_retries."""
        attempt = 0
        while True:
            try:
                async for event in self.stream(messages, **overrides):
                    if isinstance(event, Completion):
                        return event
                raise ModelError("truncated", "the stream ended without a completion")
            except ModelError as err:
                # stream() already retried errors before the first chunk; here we also retry broken streams.
                if err.kind != "truncated" or attempt >= self.max_retries:
                    raise
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, err))

    def _backoff(self, attempt: int, err: ModelError) -> float:
        if err.retry_after is not None:
            return min(err.retry_after, 30.0)
        # Exponential with full jitter, so many clients hitting one rate limit spread out.
        return random.uniform(0.5, 1.0) * self.retry_base_s * (2 ** (attempt - 1))
