"""The fast lane: the three requests of every battle (create, stream, vote) served as plain ASGI.

Why: FastAPI's middleware stack, router, dependency solving and response classes cost ~0.3 ms of event-loop CPU
per request, about a third of the arena's CPU per battle (create + stream + vote); see docs/arena.md "Speed". The
lane runs the same functions as the FastAPI routes (`api.start_battle`, `api.battle_events`, `api.cast_vote`), the
same voter cookie (`VoterGate`) and the same `{"error": message}` replies. It only takes requests it can parse
completely: a body that is not a JSON object with the expected string field goes on to FastAPI (replayed), so
validation messages come from one place. Every other route is FastAPI's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI

from glassboard.arena import api
from glassboard.arena.errors import ApiError, database_error
from glassboard.arena.integrity_middleware import VoterGate, send_too_large

log = logging.getLogger("glassboard.arena")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

BATTLE_ROUTE = re.compile(r"/api/battles/([^/]+)/(stream|vote)")
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]


class ArenaApp(FastAPI):
    """The arena's FastAPI app with the fast lane in front (`gate` and `state.arena` are set by create_app)."""

    gate: VoterGate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if path == "/api/battles" and method == "POST":
                return await self._post(scope, receive, send, "prompt", None)
            match = BATTLE_ROUTE.fullmatch(path)
            if match is not None:
                battle_id, action = match.groups()
                if action == "stream" and method == "GET":
                    return await self._stream(scope, send, battle_id)
                if action == "vote" and method == "POST":
                    return await self._post(scope, receive, send, "winner", battle_id)
        await super().__call__(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send, field: str, battle_id: str | None) -> None:
        """Create (battle_id None) or vote: read the JSON body, then answer like the FastAPI route."""
        if self.gate.too_large(scope):
            return await send_too_large(send, self.gate.max_body)
        try:
            body = await _read_body(receive, self.gate.max_body)
        except _ClientGone:
            return
        if body is None:
            return await send_too_large(send, self.gate.max_body)
        value = _string_field(body, field)
        if value is None:  # not ours to judge: FastAPI validates and explains
            return await super().__call__(scope, _replay(body, receive), send)
        voter_id, cookie = self.gate.identify(scope)
        st = self.state.arena
        client = scope.get("client")
        voter, ip = api.voter_key(st, voter_id, client[0] if client else None)
        try:
            if battle_id is None:
                result = await api.start_battle(st, voter, ip, value)
            else:
                result = await api.cast_vote(st, battle_id, voter, ip, value)
        except Exception as err:  # noqa: BLE001 - the server keeps serving
            return await _send_error(scope, send, err, cookie)
        await _send_json(send, 200, result, cookie)

    async def _stream(self, scope: Scope, send: Send, battle_id: str) -> None:
        voter_id, cookie = self.gate.identify(scope)
        st = self.state.arena
        try:
            events = await api.battle_events(st, battle_id, st.cookies.pseudonym(voter_id))
        except Exception as err:  # noqa: BLE001 - the server keeps serving
            return await _send_error(scope, send, err, cookie)
        headers = SSE_HEADERS + ([(b"set-cookie", cookie)] if cookie else [])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if isinstance(events, list | tuple):
            await send({"type": "http.response.body", "body": b"".join(events)})
            return
        await _send_events(send, events)


async def _send_error(scope: Scope, send: Send, err: Exception, cookie: bytes | None) -> None:
    """The same replies as the FastAPI exception handlers (errors.py): ApiError, database errors, then 500."""
    if not isinstance(err, ApiError):
        unavailable = database_error(err)
        if unavailable is not None:
            log.error("database error on %s %s: %s", scope["method"], scope["path"], err)
            err = unavailable
        else:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"], exc_info=err)
            err = ApiError(500, "Internal error: the server logged it and keeps serving.")
    await _send_json(send, err.status, {"error": err.message}, cookie, err.headers)


async def _send_events(send: Send, events: Iterable[bytes] | AsyncIterator[bytes]) -> None:
    """Write the live events as they come; a client that goes away ends the subscription, not the battle."""
    try:
        async for data in events:  # type: ignore[union-attr]
            await send({"type": "http.response.body", "body": data, "more_body": True})
    except OSError:  # the client disconnected (servers on ASGI spec >= 2.4 say so)
        return
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[union-attr]
    with contextlib.suppress(OSError):
        await send({"type": "http.response.body", "body": b""})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it grows over `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


class _ClientGone(Exception):
    """The client disconnected before its request body arrived: there is nobody to answer."""


def _string_field(body: bytes, field: str) -> str | None:
    """body[field] if the body is a JSON object whose `field` is a string, else None."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    value = data.get(field) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the already-read body once, then defers to the real one (for disconnects)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, data: Any, cookie: bytes | None,
                     extra: dict[str, str] | None = None) -> None:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if cookie:
        headers.append((b"set-cookie", cookie))
    for name, value in (extra or {}).items():
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
