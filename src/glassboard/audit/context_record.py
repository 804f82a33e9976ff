"""One line of the context audit's log: a (task, length, depth, sample) cell sent to one variant, with the server's
own token count, the answer, its recall score, or the error or truncation that kept it from being scored.

The log itself is the benchmark runner's append-only, resumable JSONL (bench/log.py); this is the record type read
back from it (`read_records(path, ContextRecord.from_json)`), so the summary reads attributes, not string keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from glassboard.bench.log import Key
from glassboard.schema import RecordError

_REQUIRED_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "epoch": int, "prompt_hash": str, "status": str, "task": str, "length": int,
    "depth": (float, int, type(None)), "sample": int, "sent_tokens": int,
}


@dataclass(frozen=True, slots=True)
class ContextRecord:
    id: str
    epoch: int
    prompt_hash: str
    status: str  # "ok" (answered, or refused for its length: truncated) or "error" (a model error, never scored)
    task: str
    length: int  # the prompt's length in the model's tokens, as built
    depth: float | None  # where the needle sits (0 = start, 1 = end); None for tasks without one
    sample: int
    sent_tokens: int
    expected: tuple[str, ...] = ()
    exact: bool = True  # the length was counted by the model's own tokenizer
    prompt_tokens: int | None = None  # what the server counted
    response: str | None = None
    finish_reason: str | None = None
    truncated: bool = False  # the provider cut or refused the prompt: not scored
    truncation: str | None = None
    score: float | None = None  # recall of the expected strings
    error: dict[str, Any] | None = None
    time: float | None = None

    @property
    def key(self) -> Key:
        return (self.id, self.epoch, self.prompt_hash)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def scored(self) -> bool:
        """Answered, not truncated, with a score: counts towards the cell's accuracy."""
        return self.ok and not self.truncated and self.score is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContextRecord:
        for name, kind in _REQUIRED_TYPES.items():
            if name not in data:
                raise RecordError(f"context record: missing field '{name}'")
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                raise RecordError(f"context record: field '{name}' has type {type(data[name]).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["expected"] = tuple(values.get("expected") or ())
        if values.get("score") is not None:
            values["score"] = float(values["score"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {"type": "sample", **asdict(self), "expected": list(self.expected)}
