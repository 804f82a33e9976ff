"""Battle generation: both sides stream concurrently into one replayable event log, served as server-sent events.

Generation belongs to the server, not to the HTTP connection: it starts when the battle (or turn) is created and
runs to the end even if the browser disconnects. A subscriber replays the log from the start and then follows
it live, so a reconnecting EventSource loses nothing. Once a turn is stored, its events are rebuilt from the
database. The `end` event is sent only after the turn is committed, so a vote sent after `end` finds the battle
ready.

Events (each `data` is JSON): `start` {turn}; `chunk` {side, text} (plain text); `done` {side, html}
(the whole answer as sanitized HTML); `error` {side, message}; `end` {status: ready | failed | voted, message?}.
Timing and model names are not sent before the vote: they could unblind the battle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from glassboard.models.types import Completion, ModelError

log = logging.getLogger("glassboard.arena")


def frame(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


@dataclass
class LiveTurn:
    """The event log of one turn being generated; subscribers replay it, then wait for more."""

    battle_id: str
    turn: int
    voter: str | None = None  # pseudonym of the voter who started the battle (may stream it)
    events: list[bytes] = field(default_factory=list)
    finished: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, data: bytes, last: bool = False) -> None:
        self.events.append(data)
        self.finished = self.finished or last
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self) -> AsyncIterator[bytes]:
        index = 0
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
    completion: Completion | None = None
    error: str | None = None  # full message, stored
    public_error: str | None = None  # what the voter sees (no URLs, no names)


FinishTurn = Callable[..., Awaitable[None]]


class BattleRunner:
    """Owns the generation tasks and the live event logs of the turns in progress."""

    def __init__(self, hub: Any, render: Callable[[str], str], finish_turn: FinishTurn,
                 overrides: dict[str, Any] | None = None):
        self.hub = hub
        self.render = render
        self.finish_turn = finish_turn
        self.overrides = dict(overrides or {})
        self.live: dict[str, LiveTurn] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, battle_id: str, turn: int, sides: dict[str, tuple[Any, list[dict[str, Any]]]],
              voter: str | None = None) -> LiveTurn:
        """Start generating `turn` for both sides: {"a": (variant, conversation), "b": (...)}."""
        live = LiveTurn(battle_id, turn, voter)
        live.push(frame("start", {"turn": turn}))
        self.live[battle_id] = live
        task = asyncio.create_task(self._run(live, sides), name=f"battle-{battle_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return live

    async def _side(self, live: LiveTurn, side: str, variant: Any, conversation: list[dict[str, Any]],
                    result: SideResult) -> None:
        parts: list[str] = []
        try:
            model = self.hub.get(variant)
            async for event in model.stream(conversation, **self.overrides):
                if isinstance(event, Completion):
                    result.completion = event
                    result.text = "".join(parts)
                    live.push(frame("done", {"side": side, "html": self.render(event.text)}))
                    return
                event = event.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
                parts.append(event)
                live.push(frame("chunk", {"side": side, "text": event}))
            raise ModelError("truncated", "the stream ended without a completion")
        except ModelError as err:
            result.text, result.error = "".join(parts), str(err)
            result.public_error = f"This answer failed ({err.kind.replace('_', ' ')})."
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
            await self.finish_turn(live.battle_id, live.turn, status, conversations["a"], conversations["b"],
                                   answers, error)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            status, message = "failed", "The server is shutting down."
            raise
        except Exception:  # noqa: BLE001 - e.g. the database went away: the battle fails, the server lives
            log.exception("battle %s: could not store the turn", live.battle_id)
            status, message = "failed", "The answers could not be stored."
        finally:
            live.push(frame("end", {"status": status, **({"message": message} if message else {})}), last=True)
            self.live.pop(live.battle_id, None)

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


def replay(battle: dict[str, Any], turns: list[dict[str, Any]], render: Callable[[str], str]) -> list[bytes]:
    """The events of a battle's latest turn, rebuilt from the store."""
    if not turns:
        return [frame("end", {"status": "failed", "message": "This battle has no answers."})]
    last = max(t["turn"] for t in turns)
    events = [frame("start", {"turn": last})]
    for row in (t for t in turns if t["turn"] == last):
        if row["error"] or battle["status"] == "streaming":
            message = "This answer failed." if row["error"] else "This answer was interrupted."
            events.append(frame("error", {"side": row["side"], "message": message}))
        elif row["answer"] is not None:
            events.append(frame("done", {"side": row["side"], "html": render(row["answer"])}))
    status = battle["status"]
    end: dict[str, Any] = {"status": "failed" if status == "streaming" else status}
    if end["status"] == "failed":
        end["message"] = "A model failed while answering, so this battle cannot be voted on."
    events.append(frame("end", end))
    return events


def now() -> float:
    return time.time()
