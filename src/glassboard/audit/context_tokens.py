"""How the long-context audit measures lengths in the model's own tokens, per endpoint.

- local GGUF weights: llama.cpp's own tokenizer (the vocabulary only is loaded: ~0.2 s, no weights in memory);
- an OpenAI-compatible endpoint with a tokenize route (llama.cpp's server, vLLM, SGLang: POST <root>/tokenize;
  llama-cpp-python's server: POST <root>/extras/tokenize/count): the server's tokenizer, one request per distinct
  unit (each is counted once, see haystack.TokenCounts);
- otherwise: calibration from `usage.prompt_tokens` of two probe requests (tokens per character): approximate,
  and said so in the report.
The chat template adds tokens around the user message; a probe request measures them (server-reported prompt
tokens minus the content's count), so a cell's length is the whole prompt the model sees, as in RULER.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from glassboard.audit.haystack import ContextError, prose_pool
from glassboard.models.types import ModelError

# Messages servers give when a prompt does not fit their window (llama.cpp, OpenAI, vLLM, TGI): the provider's
# limit, reported as truncation by the provider, never as a model failure.
WINDOW_ERROR = re.compile(r"exceed\w* (the )?context window|maximum context length|context[_ ]length[_ ]exceeded|"
                          r"prompt is too long|too many (input )?tokens|input is too long", re.IGNORECASE)


@dataclass
class Measure:
    """The token counter of one endpoint and what the report must say about it."""

    method: str
    count: Callable[[str], int]
    exact: bool
    caveats: list[str] = field(default_factory=list)
    overhead: int = 0  # chat-template tokens around the user message
    local: bool = False  # counting costs no request: every prompt is verified by a full tokenization
    usage: bool = True  # the endpoint reports prompt tokens (needed to detect truncation)


def llama_counter(path: Any) -> Callable[[str], int]:
    """Count tokens with llama.cpp's tokenizer for a GGUF file (vocabulary only)."""
    from llama_cpp import Llama

    try:
        # llama.cpp prints a context warning for a vocabulary-only load even when not verbose; keep stderr clean.
        from llama_cpp._utils import suppress_stdout_stderr

        quiet: Any = suppress_stdout_stderr(disable=False)
    except ImportError:
        quiet = contextlib.nullcontext()
    try:
        with quiet:
            vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError) as err:
        raise ContextError(f"llama.cpp could not read the tokenizer of {path}: {err}") from None

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    return count


# Tokenize routes servers have, tried in order: llama.cpp's server, vLLM and SGLang answer POST <root>/tokenize
# ({"content"} or {"prompt"} -> {"tokens"} or {"count"}); llama-cpp-python's server answers
# POST <root>/extras/tokenize/count ({"input"} -> {"count"}).
TOKENIZE_ROUTES = ("/tokenize", "/extras/tokenize/count")


@dataclass
class RemoteCounter:
    """A server's tokenizer: `count(text)` is its count of `text` alone, without the special tokens some routes
    add to every input (llama-cpp-python's adds BOS: measured once as the count of an empty text)."""

    route: str
    count: Callable[[str], int]


def remote_counter(base_url: str, model: str, timeout_s: float = 30.0) -> RemoteCounter | None:
    """The first tokenize route the server answers, as a counter; None when it has none."""
    root = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
    client = httpx.Client(timeout=timeout_s, trust_env=False)
    for route in TOKENIZE_ROUTES:
        raw = _route_counter(client, f"{root}{route}", model)
        try:
            raw("probe")
            offset = raw("")
        except ContextError:
            continue
        return RemoteCounter(route, _less(raw, offset))
    client.close()
    return None


def _less(raw: Callable[[str], int], offset: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        return max(0, raw(text) - offset)

    return count


def _route_counter(client: httpx.Client, url: str, model: str) -> Callable[[str], int]:
    def count(text: str) -> int:
        try:
            response = client.post(url, json={"content": text, "prompt": text, "input": text, "model": model,
                                              "add_special": False, "add_special_tokens": False})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as err:
            raise ContextError(f"tokenize request failed: {err} [{url}]") from None
        if isinstance(data, dict) and isinstance(data.get("count"), int):
            return int(data["count"])
        if isinstance(data, dict) and isinstance(data.get("tokens"), list):
            return len(data["tokens"])
        raise ContextError(f"unexpected tokenize answer (no 'tokens' or 'count') [{url}]")

    return count


async def _prompt_tokens(model: Any, text: str) -> int | None:
    completion = await model.complete(text, max_tokens=1, temperature=0.0, seed=0)
    return completion.prompt_tokens if isinstance(completion.prompt_tokens, int) else None


async def measure_for(model: Any) -> Measure:
    """The endpoint's counter, its chat-template overhead and caveats (two tiny probe requests at most)."""
    variant = model.variant
    probe = "".join(prose_pool()[:4]).strip()
    measure: Measure | None = None
    if variant.backend == "llama_cpp":
        measure = Measure("llama.cpp tokenizer of the GGUF file", llama_counter(variant.model_path), True,
                          local=True)
    else:
        counter = remote_counter(variant.base_url, variant.model)
        measure = Measure(f"the server's {counter.route} route", counter.count, True) if counter else None
    try:
        reported = await _prompt_tokens(model, probe)
        if measure is None:
            longer = "".join(prose_pool()[:40]).strip()
            reported_long = await _prompt_tokens(model, longer)
            if reported is None or reported_long is None or reported_long <= reported:
                measure = Measure("4 characters per token (no tokenizer, no usage counts)", _chars(0.25), False)
            else:
                per_char = (reported_long - reported) / (len(longer) - len(probe))
                measure = Measure("calibrated from usage.prompt_tokens of two probes", _chars(per_char), False)
                measure.caveats.append(f"lengths are estimates ({per_char:.3f} tokens per character from two "
                                       "probe requests); every sample stores the server's own count")
    except ModelError as err:
        raise ContextError(f"the probe request to '{variant.name}' failed: {err}") from None
    assert measure is not None
    if measure.method.startswith("4 characters"):
        measure.caveats.append("the endpoint has no tokenize route and reports no usage counts: lengths are "
                               "rough estimates")
    if reported is None:
        measure.usage = False
        measure.caveats.append("the endpoint reports no prompt token counts: provider truncation cannot be "
                               "detected from counts here, only from refusals, and lengths count the user message "
                               "only (the chat template's tokens are not measured)")
    else:
        measure.overhead = max(0, reported - measure.count(probe))
    return measure


def _chars(per_char: float) -> Callable[[str], int]:
    def count(text: str) -> int:
        return max(1, round(len(text) * per_char))

    return count


def is_window_error(err: ModelError) -> bool:
    """The endpoint refused the prompt because it does not fit its context window."""
    return bool(WINDOW_ERROR.search(str(err)))
