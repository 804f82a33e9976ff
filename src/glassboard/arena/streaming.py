"""Battle generation: both sides stream concurrently into one replayable event log, served as server-sent events.

Generation belongs to the server, not to the HTTP connection: it starts when the battle (or turn) is created and
runs to the end even if the browser disconnects. A subscriber replays the log from the start and then follows
it live, so a reconnecting EventSource loses nothing. Once a turn is stored, its events are rebuilt from the
database.

Every live event carries an SSE id `TURN-N` (N counts the turn's events from 1); a client that reconnects with
`Last-Event-ID` (browsers' EventSource send it by themselves) gets only what follows that event (`events_after`),
so nothing is lost or repeated. The same ids are the Redis stream ids in replica mode (shared.py). Events rebuilt
from the database carry no id: they begin with `start`, which resets the panes.

Events (each `data` is JSON): `start` {turn}; `chunk` {side, text} (plain text); `done` {side, html}
(the whole answer as sanitized HTML); `error` {side, message}; `end` {status: ready | failed | voted, message?}.
A side's `done` is sent only once the turn is committed, so `done` from both sides means the battle can be voted
on (the `end` that follows says the same). Timing and model names are not sent before the vote: they could
unblind the battle.

What this module refuses to pass on from a backend:
- Text the store cannot hold: NUL (PostgreSQL text) and lone UTF-16 surrogates (neither UTF-8 nor JSON can encode
  them; one left a battle 'streaming' forever) become U+FFFD as each chunk arrives.
- Answers past their length limit (`AnswerLimits`): a backend that ignores max_tokens is cut off once it sent more
  than `token_margin` x max_tokens + `token_slack` chunks (every server we know sends at least one token per chunk,
  so an honest answer never reaches this), or more than `max_bytes` of UTF-8; that side fails with a clear error
  and the battle cannot be voted on. The text kept is at most `max_bytes`.
If the turn cannot be stored, a second, minimal write marks the battle failed, so no battle stays 'streaming'
while the server runs (a server stopped mid-turn fails its battles at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from glassboard.models.types import Completion, ModelError
from glassboard.schema import GlassboardError

log = logging.getLogger("glassboard.arena")

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_EVENT_ID = re.compile(r"(\d{1,4})-(\d{1,9})")


def parse_event_id(value: str | bytes | None) -> tuple[int, int] | None:
    """(turn, n) of a `Last-Event-ID` ('TURN-N'); None when absent or not one of ours (then replay from the start)."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    match = _EVENT_ID.fullmatch(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def events_after(turn: int, last: tuple[int, int] | None) -> int:
    """How many events of `turn` the client already has, given its Last-Event-ID."""
    return last[1] if last is not None and last[0] == turn else 0


def clean_text(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD (what neither PostgreSQL nor UTF-8 can store)."""
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


def frame(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


@dataclass(frozen=True)
class AnswerLimits:
    """How long an answer may get before it is cut off (see the module docstring)."""

    token_margin: float = 1.25
    token_slack: int = 16
    max_bytes: int = 256 * 1024

    def max_chunks(self, max_tokens: int) -> int:
        return int(max_tokens * self.token_margin) + self.token_slack


@dataclass
class LiveTurn:
    """The event log of one turn being generated; subscribers replay it, then wait for more."""

    battle_id: str
    turn: int
    voter: str | None = None  # pseudonym of the voter who started the battle (may stream it)
    events: list[bytes] = field(default_factory=list)  # each with its `id: TURN-N` line
    finished: bool = False
    publish: Callable[[LiveTurn, str, bytes, bool], None] | None = None  # replica mode: to the Redis stream
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, data: bytes, last: bool = False) -> None:
        event_id = f"{self.turn}-{len(self.events) + 1}"
        self.events.append(b"id: " + event_id.encode() + b"\n" + data)
        self.finished = self.finished or last
        if self.publish is not None:
            self.publish(self, event_id, data, last)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self, after: int = 0) -> AsyncIterator[bytes]:
        """The events after the first `after` ones, live until the turn ends."""
        index = min(after, len(self.events)) if after > 0 else 0
        while True:
            if index < len(self.events):  # everything that arrived meanwhile goes out in one write
                end = len(self.events)
                yield b"".join(self.events[index:end])
                index = end
            if self.finished and index == len(self.events):
                return
            if index == len(self.events):
                await self._changed.wait()


@dataclass
class SideResult:
    """What one side produced in one turn."""

    text: str = ""
    html: str | None = None  # the rendered answer, sent as `done` once the turn is stored
    completion: Completion | None = None
    error: str | None = None  # full message, stored
    public_error: str | None = None  # what the voter sees (no URLs, no names)


FinishTurn = Callable[..., Awaitable[None]]
FailTurn = Callable[[str, int, str], Awaitable[None]]
Render = Callable[[str], Awaitable[str]]


class AnswerTooLong(GlassboardError):
    """A backend went past the answer's length limit."""


class BattleRunner:
    """Owns the generation tasks and the live event logs of the turns in progress."""

    def __init__(self, hub: Any, render: Render, finish_turn: FinishTurn, overrides: dict[str, Any] | None = None,
                 *, fail_turn: FailTurn | None = None, limits: AnswerLimits | None = None,
                 publish: Callable[[LiveTurn, str, bytes, bool], None] | None = None):
        self.hub = hub
        self.render = render
        self.finish_turn = finish_turn
        self.fail_turn = fail_turn
        self.limits = limits or AnswerLimits()
        self.overrides = dict(overrides or {})
        self.publish = publish
        self.live: dict[str, LiveTurn] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, battle_id: str, turn: int, sides: dict[str, tuple[Any, list[dict[str, Any]]]],
              voter: str | None = None) -> LiveTurn:
        """Start generating `turn` for both sides: {"a": (variant, conversation), "b": (...)}."""
        live = LiveTurn(battle_id, turn, voter, publish=self.publish)
        live.push(frame("start", {"turn": turn}))
        self.live[battle_id] = live
        task = asyncio.create_task(self._run(live, sides), name=f"battle-{battle_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return live

    async def _stream(self, live: LiveTurn, side: str, model: Any, conversation: list[dict[str, Any]],
                      parts: list[str], result: SideResult) -> None:
        max_tokens = model.variant.params.merged(**self.overrides).max_tokens
        max_chunks, max_bytes = self.limits.max_chunks(max_tokens), self.limits.max_bytes
        size = 0
        async with contextlib.aclosing(model.stream(conversation, **self.overrides)) as events:
            async for event in events:
                if isinstance(event, Completion):
                    result.completion = event
                    result.text = "".join(parts)
                    result.html = await self.render(result.text)
                    return
                event = clean_text(event)
                size += len(event.encode())
                if size > max_bytes:
                    raise AnswerTooLong(f"more than {max_bytes:,} bytes")
                if len(parts) >= max_chunks:
                    raise AnswerTooLong(f"more than {max_chunks:,} chunks for max_tokens={max_tokens}")
                parts.append(event)
                live.push(frame("chunk", {"side": side, "text": event}))
        raise ModelError("truncated", "the stream ended without a completion")

    async def _side(self, live: LiveTurn, side: str, variant: Any, conversation: list[dict[str, Any]],
                    result: SideResult) -> None:
        parts: list[str] = []
        try:
            await self._stream(live, side, self.hub.get(variant), conversation, parts, result)
            return
        except ModelError as err:
            result.text, result.error = "".join(parts), str(err)
            result.public_error = f"This answer failed ({err.kind.replace('_', ' ')})."
        except AnswerTooLong as err:
            result.text, result.error = "".join(parts), f"answer_limit: stopped after {err} (the backend ignored " \
                                                         "its length limit)"
            result.public_error = "This answer was stopped: it went past its length limit."
        except asyncio.CancelledError:
            result.text = "".join(parts)
            result.error = result.error or "cancelled"
            result.public_error = "This answer was stopped because the other answer failed."
            live.push(frame("error", {"side": side, "message": result.public_error}))
            raise
        except Exception as err:  # noqa: BLE001 - any backend bug must end the battle, not the server
            log.exception("battle %s side %s: unexpected error", live.battle_id, side)
            result.text, result.error = "".join(parts), f"internal: {err!r}"
            result.public_error = "This answer failed (internal error)."
        live.push(frame("error", {"side": side, "message": result.public_error}))
        raise _SideFailed(side)

    async def _run(self, live: LiveTurn, sides: dict[str, tuple[Any, list[dict[str, Any]]]]) -> None:
        results = {side: SideResult() for side in sides}
        tasks = [
            asyncio.create_task(self._side(live, side, variant, conversation, results[side]))
            for side, (variant, conversation) in sides.items()
        ]
        status, message = "ready", None
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if any(r.error for r in results.values()):
                status, message = "failed", "A model failed while answering, so this battle cannot be voted on."
            conversations = {
                side: [*conversation, {"role": "assistant", "content": results[side].text}]
                if not results[side].error else list(conversation)
                for side, (_, conversation) in sides.items()
            }
            answers = {side: _answer_values(result) for side, result in results.items()}
            error = "; ".join(f"{s}: {r.error}" for s, r in results.items() if r.error) or None
            try:
                await self.finish_turn(live.battle_id, live.turn, status, conversations["a"], conversations["b"],
                                       answers, error)
            except Exception as err:  # noqa: BLE001 - e.g. the database refused a value: fail the battle instead
                log.exception("battle %s: could not store the turn", live.battle_id)
                status, message = "failed", "The answers could not be stored."
                await self._fail_stored(live, f"the turn could not be stored: {err!r}")
            else:
                for side, result in results.items():  # stored: now `done` means "votable"
                    if result.html is not None:
                        live.push(frame("done", {"side": side, "html": result.html}))
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            status, message = "failed", "The server is shutting down."
            raise
        except Exception:  # noqa: BLE001 - an unexpected bug: the battle fails, the server lives
            log.exception("battle %s: turn failed", live.battle_id)
            status, message = "failed", "The answers could not be stored."
            await self._fail_stored(live, "internal error while finishing the turn")
        finally:
            live.push(frame("end", {"status": status, **({"message": message} if message else {})}), last=True)
            self.live.pop(live.battle_id, None)

    async def _fail_stored(self, live: LiveTurn, reason: str) -> None:
        """Mark the battle failed in the store with a minimal write (no answer text)."""
        if self.fail_turn is None:
            return
        try:
            await self.fail_turn(live.battle_id, live.turn, clean_text(reason[:1000]))
        except Exception:  # noqa: BLE001 - the store is gone: the next start fails the battle
            log.exception("battle %s: could not mark it failed either", live.battle_id)

    async def drain(self, timeout_s: float) -> None:
        """Let the turns in progress finish (graceful shutdown), for at most `timeout_s`."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def aclose(self) -> None:
        """Cancel the turns in progress (they stay 'streaming' in the store and are failed at next start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _SideFailed(Exception):
    """One side of a turn failed (its error event was already sent)."""


def _answer_values(result: SideResult) -> dict[str, Any]:
    completion = result.completion
    return {
        "answer": result.text,
        "error": result.error,
        "ttft_s": completion.ttft_s if completion else None,
        "tokens_per_s": completion.tokens_per_s if completion else None,
        "total_s": completion.total_s if completion else None,
        "completion_tokens": completion.completion_tokens if completion else None,
        "finish_reason": completion.finish_reason if completion else None,
    }


async def replay(battle: dict[str, Any], turns: list[dict[str, Any]], render: Render) -> list[bytes]:
    """The events of a battle's latest turn, rebuilt from the store (answers rendered by `render`)."""
    if not turns:
        return [frame("end", {"status": "failed", "message": "This battle has no answers."})]
    last = max(t["turn"] for t in turns)
    events = [frame("start", {"turn": last})]
    for row in (t for t in turns if t["turn"] == last):
        if row["error"] or battle["status"] == "streaming":
            message = "This answer failed." if row["error"] else "This answer was interrupted."
            events.append(frame("error", {"side": row["side"], "message": message}))
        elif row["answer"] is not None:
            events.append(frame("done", {"side": row["side"], "html": await render(row["answer"])}))
    status = battle["status"]
    end: dict[str, Any] = {"status": "failed" if status == "streaming" else status}
    if end["status"] == "failed":
        end["message"] = "A model failed while answering, so this battle cannot be voted on."
    events.append(frame("end", end))
    return events


def now() -> float:
    return time.time()
