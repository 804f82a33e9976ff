"""Plain data types of the model layer: sampling parameters, completions, token logprobs and typed errors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from glassboard.schema import GlassboardError

Message = dict[str, str]
"""One chat message: {"role": "system" | "user" | "assistant", "content": str}."""

ErrorKind = Literal[
    "timeout",  # no answer (or no next chunk) within the time limit
    "rate_limit",  # HTTP 429 after all retries
    "server",  # HTTP 5xx after all retries
    "connection",  # endpoint unreachable (refused, DNS, reset)
    "bad_response",  # invalid JSON, missing fields, unexpected shape
    "truncated",  # the stream ended before a finish reason
    "refused",  # 4xx other than 429: auth, bad request, content filter
    "empty",  # the model finished but produced no text
    "not_found",  # model file or model id does not exist
]

RETRYABLE_KINDS: frozenset[str] = frozenset({"timeout", "rate_limit", "server", "connection", "truncated"})


class ModelError(GlassboardError):
    """A model call that failed; `kind` says how, `url` names the endpoint or file involved."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        self.kind: ErrorKind = kind
        self.url = url
        self.status = status
        self.retry_after = retry_after
        where = f" [{url}]" if url else ""
        super().__init__(f"{kind}: {message}{where}")

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


class ConfigError(GlassboardError, ValueError):
    """Bad user input: a registry file, a model name or a parameter; the message names file, line and field."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. Every field changes behaviour, so every field is part of a variant's id."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = None  # ask for per-token logprobs with this many alternatives (0 = chosen only)

    def __post_init__(self) -> None:
        _check_number("temperature", self.temperature, low=0.0, high=5.0)
        _check_number("top_p", self.top_p, low=0.0, high=1.0)
        _check_int("max_tokens", self.max_tokens, low=1)
        if self.seed is not None:
            _check_int("seed", self.seed, low=0)
        if self.top_logprobs is not None:
            _check_int("top_logprobs", self.top_logprobs, low=0, high=20)
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s for s in self.stop):
            raise ConfigError(f"sampling parameter 'stop' must be a list of non-empty strings, got {self.stop!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "sampling parameters") -> SamplingParams:
        """Build from a TOML/JSON mapping; unknown keys and wrong types raise ConfigError naming `where`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown sampling parameter(s) {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "stop" in values:
            stop = values["stop"]
            if isinstance(stop, str):
                stop = [stop]
            if not isinstance(stop, list | tuple):
                raise ConfigError(f"{where}: 'stop' must be a string or a list of strings, got {stop!r}")
            values["stop"] = tuple(stop)
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None

    def merged(self, **overrides: Any) -> SamplingParams:
        """A copy with the given fields replaced (None values are ignored)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "stop" in changes and not isinstance(changes["stop"], tuple):
            changes["stop"] = tuple(changes["stop"])
        return replace(self, **changes) if changes else self

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


def _check_number(name: str, value: Any, *, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"sampling parameter '{name}' must be a number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"sampling parameter '{name}' must be between {low} and {high}, got {value!r}")


def _check_int(name: str, value: Any, *, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"sampling parameter '{name}' must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"sampling parameter '{name}' must be {bound}, got {value!r}")


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability and the top alternatives at that position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class BackendResult:
    """What a backend reports at the end of a stream; timing is added by the model layer."""

    finish_reason: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True)
class Completion:
    """A finished answer with its token counts, timing and (where the backend gives them) token logprobs."""

    text: str
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_s: float | None
    total_s: float
    logprobs: tuple[TokenLogprob, ...] | None = field(default=None, repr=False)

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: completion tokens over the time after the first token (None when unknowable)."""
        if not self.completion_tokens or self.ttft_s is None:
            return None
        decode = self.total_s - self.ttft_s
        if self.completion_tokens <= 1 or decode <= 0:
            return None
        return (self.completion_tokens - 1) / decode
