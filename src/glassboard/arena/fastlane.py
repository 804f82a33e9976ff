"""The fast lane: the three requests of every battle (create, stream, vote) served as plain ASGI, and the arena's
outermost ASGI layer.

Why: FastAPI's middleware stack, router, dependency solving and response classes cost ~0.3 ms of event-loop CPU
per request, about a third of the arena's CPU per battle (create + stream + vote); see docs/arena.md "Speed". The
lane runs the same functions as the FastAPI routes (`api.start_battle`, `api.battle_events`, `api.cast_vote`), the
same voter cookie (`VoterGate`), and every request, lane or not, first passes the same checks and gets the same
replies and headers (`http.HttpRules`, `http.Exchange`). The lane only takes requests it can parse completely: a
body that is not a JSON object with the expected string field goes on to FastAPI (replayed), so validation
messages come from one place. Every other route is FastAPI's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterable

from fastapi import FastAPI
from starlette.types import Message, Receive, Send

from glassboard.arena import api
from glassboard.arena.http import Exchange, HttpRules, as_api_error, read_head, string_field
from glassboard.arena.integrity_middleware import VoterGate

BATTLE_ROUTE = re.compile(r"/api/battles/([^/]+)/(stream|vote)")
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]


class ArenaApp(FastAPI):
    """The arena's FastAPI app with the HTTP rules and the fast lane in front (`rules`, `gate` and `state.arena`
    are set by create_app)."""

    gate: VoterGate
    rules: HttpRules

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        exchange = Exchange(receive, send, self.rules.max_body, self.rules.headers)
        head = read_head(scope["headers"])
        refusal = self.rules.refusal(scope, head)
        if refusal is not None:
            return await exchange.send_error(refusal)
        path, method = scope["path"], scope["method"]
        if path == "/api/battles" and method == "POST":
            return await self._post(scope, exchange, head.cookies, "prompt", None)
        match = BATTLE_ROUTE.fullmatch(path)
        if match is not None:
            battle_id, action = match.groups()
            if action == "stream" and method == "GET":
                return await self._stream(scope, exchange, head.cookies, battle_id)
            if action == "vote" and method == "POST":
                return await self._post(scope, exchange, head.cookies, "winner", battle_id)
        await super().__call__(scope, exchange.receive, exchange.send)

    async def _post(self, scope: Message, exchange: Exchange, cookies: list[bytes], field: str,
                    battle_id: str | None) -> None:
        """Create (battle_id None) or vote: read the JSON body, then answer like the FastAPI route."""
        body = await _read_body(exchange)
        if body is None:
            return  # the client went away, or the body passed the cap (already answered 413)
        voter_id, cookie = self.gate.identify(cookies)
        try:
            value = string_field(body, field)
            if value is None:  # not ours to judge: FastAPI validates and explains
                return await super().__call__(scope, _replay(body, exchange.receive), exchange.send)
            st = self.state.arena
            client = scope.get("client")
            voter, ip = api.voter_key(st, voter_id, client[0] if client else None)
            if battle_id is None:
                result = await api.start_battle(st, voter, ip, value)
            else:
                result = await api.cast_vote(st, battle_id, voter, ip, value)
        except Exception as err:  # noqa: BLE001 - the server keeps serving
            return await exchange.send_error(as_api_error(err, scope["method"], scope["path"]), cookie)
        await exchange.send_json(200, result, [(b"set-cookie", cookie)] if cookie else None)

    async def _stream(self, scope: Message, exchange: Exchange, cookies: list[bytes], battle_id: str) -> None:
        voter_id, cookie = self.gate.identify(cookies)
        st = self.state.arena
        try:
            events = await api.battle_events(st, battle_id, st.cookies.pseudonym(voter_id), _last_event_id(scope))
        except Exception as err:  # noqa: BLE001 - the server keeps serving
            return await exchange.send_error(as_api_error(err, scope["method"], scope["path"]), cookie)
        headers = SSE_HEADERS + ([(b"set-cookie", cookie)] if cookie else [])
        await exchange.send({"type": "http.response.start", "status": 200, "headers": headers})
        if isinstance(events, list | tuple):
            await exchange.send({"type": "http.response.body", "body": b"".join(events)})
            return
        await _send_events(exchange.send, events)


def _last_event_id(scope: Message) -> bytes | None:
    """The client's Last-Event-ID header, else `?last_event_id=` (the page's own reconnect, which cannot set it)."""
    for name, value in scope["headers"]:
        if name == b"last-event-id":
            return value
    query: bytes = scope.get("query_string", b"")
    if query.startswith(b"last_event_id="):
        return query[14:].split(b"&", 1)[0]
    return None


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


async def _read_body(exchange: Exchange) -> bytes | None:
    """The whole request body (the exchange enforces the size cap), or None once the client is gone."""
    parts: list[bytes] = []
    while True:
        message = await exchange.receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the already-read body once, then defers to the real one (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


