"""What replica mode adds to the arena's routes: following a turn generated on another replica, failing battles
whose replica died (on a stalled stream and in a periodic sweep), and the health and readiness endpoints.

The rules (who may stream, the conditional updates that make a battle either voted or failed) are the same as in
one process: `api.owned_battle` checks the voter against the database, and the store's `fail_turn`, `finish_turn`
and `vote` each change a battle only from the one status they expect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from glassboard.arena.shared import Stall
from glassboard.arena.state import ArenaState
from glassboard.arena.streaming import frame, replay

log = logging.getLogger("glassboard.arena")
FAILED_MESSAGE = "The server generating this battle stopped, so it cannot be voted on. Start a new battle."


async def remote_events(st: ArenaState, battle_id: str, last_event_id: str | None) -> AsyncIterator[bytes]:
    """The turn in progress on another replica, from Redis, after `last_event_id`. Redis is asked once before
    the response starts, so while it is down the client gets a 503 (http.as_api_error), not a broken stream."""
    assert st.shared is not None
    await st.shared.ping()

    async def on_stall(stall: Stall) -> bytes:
        return b"".join(await fail_stalled(st, stall))

    return st.shared.follow(battle_id, last_event_id, on_stall)


async def fail_stalled(st: ArenaState, stall: Stall) -> Iterable[bytes]:
    """Mark the battle failed (only if still 'streaming'); the events that end its stream either way."""
    turn = stall.turn
    if turn < 0:
        turn = max((t["turn"] for t in await st.read(st.store.turns, stall.battle_id)), default=0)
    reason = f"replica {stall.replica or '(unknown)'} stopped while generating turn {turn}"
    await st.write(st.store.fail_turn, stall.battle_id, turn, reason)
    battle = await st.read(st.store.battle, stall.battle_id)
    if battle is not None and battle["status"] == "failed":
        log.warning("battle %s failed: %s", stall.battle_id, reason)
        return [frame("error", {"side": side, "message": "This answer was interrupted."}) for side in ("a", "b")] + \
               [frame("end", {"status": "failed", "message": FAILED_MESSAGE})]
    turns = await st.read(st.store.turns, stall.battle_id)  # it finished meanwhile: the stored turn
    return await replay(battle or {"status": "failed"}, turns, st.render.html)


async def sweep(st: ArenaState) -> None:
    """Fail battles streaming for longer than `stale_after_s` whose replica is gone (nobody was watching them)."""
    assert st.shared is not None
    candidates = await st.read(st.store.streaming_battles, time.time() - st.settings.stale_after_s)
    for stall in await st.shared.dead_owners(candidates):
        await fail_stalled(st, stall)


def install(app: FastAPI) -> None:
    """/healthz (the process serves) and /readyz (the database and, in replica mode, Redis answer; not draining)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Any:
        st: ArenaState = request.app.state.arena
        problems = []
        if st.draining:
            problems.append("draining: shutting down")
        try:
            await st.read(st.store.battle, "readyz-probe")
        except Exception as err:  # noqa: BLE001 - the answer is the diagnosis
            problems.append(f"database: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
        if st.shared is not None:
            try:
                await st.shared.ping()
            except Exception as err:  # noqa: BLE001
                problems.append(f"redis: {type(err).__name__}: {err}")
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return {"status": "ready"}
