"""Backend for in-process llama.cpp (llama-cpp-python): one worker thread per loaded model, requests queued."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from glassboard.models.types import BackendResult, Message, ModelError, SamplingParams, TokenLogprob

T = TypeVar("T")
_END = object()


class LlamaCppBackend:
    """Runs generation on a dedicated thread so CPU-bound decoding never blocks the event loop.

    llama.cpp contexts are not thread-safe, so one single-thread executor serialises every call on this model:
    concurrent requests wait in its queue, in order.
    """

    def __init__(self, path: Path, n_ctx: int = 2048, n_threads: int | None = None):
        if not path.is_file():
            raise ModelError("not_found", "model file not found", url=str(path))
        self.path = path
        self.n_ctx = n_ctx
        # llama.cpp's worker threads spin while they wait for each other, so on a machine shared with other
        # CPU-heavy work 2 threads can decode 100x slower than 1: GLASSBOARD_N_THREADS lets a host (or the test
        # suite) choose; the default uses up to 4 cores.
        env_threads = os.environ.get("GLASSBOARD_N_THREADS", "")
        default = int(env_threads) if env_threads.isdigit() and int(env_threads) > 0 else min(os.cpu_count() or 1, 4)
        self.n_threads = n_threads or max(1, default)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._models: dict[bool, Any] = {}  # logits_all -> Llama; only touched on the worker thread

    def _llama(self, logits_all: bool) -> Any:
        """Load lazily (on the worker thread); logits_all is needed for prompt/completion logprobs."""
        if logits_all not in self._models:
            from llama_cpp import Llama

            try:
                self._models[logits_all] = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    # llama-cpp-python otherwise evaluates prompts with one thread per CPU, which spin-wait on
                    # busy cores (measured 7.0 vs 0.7 CPU s for a 101-token prompt).
                    n_threads_batch=self.n_threads,
                    logits_all=logits_all,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as err:
                raise ModelError("not_found", f"llama.cpp could not load the model: {err}", url=str(self.path)) from err
        return self._models[logits_all]

    async def run_exclusive(self, fn: Callable[[Any], T], logits_all: bool = False) -> T:
        """Run fn(llama) on the model's worker thread (for audits that score text with full logprobs)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._llama(logits_all)))

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._models.clear()

    async def stream(
        self, model: str, messages: Sequence[Message], params: SamplingParams
    ) -> AsyncIterator[str | BackendResult]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            if cancelled.is_set():  # the caller gave up while we waited in the queue
                return
            try:
                put(self._generate(list(messages), params, put, cancelled))
            except ModelError as err:
                put(err)
            except Exception as err:  # llama.cpp raises plain ValueError/RuntimeError (e.g. context overflow)
                put(ModelError("bad_response", f"llama.cpp failed: {err}", url=str(self.path)))
            finally:
                put(_END)

        future = loop.run_in_executor(self._executor, work)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, ModelError):
                    raise item
                yield item
        finally:
            cancelled.set()
            if not future.done():
                future.cancel()

    def _generate(
        self,
        messages: list[Message],
        params: SamplingParams,
        put: Callable[[Any], None],
        cancelled: threading.Event,
    ) -> BackendResult:
        want_logprobs = params.top_logprobs is not None
        llama = self._llama(logits_all=want_logprobs)
        kwargs: dict[str, Any] = {
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "stream": True,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if want_logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = params.top_logprobs
        finish_reason = "stop"
        parts: list[str] = []
        logprobs: list[TokenLogprob] = []
        for chunk in llama.create_chat_completion(**kwargs):
            if cancelled.is_set():
                finish_reason = "cancelled"
                break
            choice = chunk["choices"][0]
            text = choice.get("delta", {}).get("content")
            if text:
                parts.append(text)
                put(text)
            if want_logprobs and choice.get("logprobs"):
                logprobs.extend(_token_logprobs(choice["logprobs"].get("content") or []))
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
        completion_tokens = len(llama.tokenize("".join(parts).encode(), add_bos=False, special=True))
        # The context holds the prompt plus every generated token that was fed back; the last sampled token is
        # fed back only when generation stopped on EOS (it is then not part of the text).
        unfed = 1 if finish_reason == "length" else 0
        return BackendResult(
            finish_reason=finish_reason,
            prompt_tokens=max(0, llama.n_tokens - completion_tokens + unfed),
            completion_tokens=completion_tokens,
            logprobs=tuple(logprobs) if want_logprobs else None,
        )


def _token_logprobs(content: Sequence[dict[str, Any]]) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token=item["token"],
            logprob=float(item["logprob"]),
            top=tuple((alt["token"], float(alt["logprob"])) for alt in item.get("top_logprobs") or []),
        )
        for item in content
    ]
