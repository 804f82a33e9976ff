"""The JSON API under /api: battles, streaming, turns, votes, leaderboard and transparency data."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from glassboard.arena.board import Board
from glassboard.arena.categories import choose_category, unknown_category_message
from glassboard.arena.errors import ApiError
from glassboard.arena.fairness import selection_summary
from glassboard.arena.http import check_rate
from glassboard.arena.integrity import ip_hash
from glassboard.arena.replicas import remote_events
from glassboard.arena.sampler import SamplerError
from glassboard.arena.state import ArenaState
from glassboard.arena.streaming import events_after, parse_event_id, replay
from glassboard.rating.battles import compute_conv_metadata
from glassboard.schema import IDENTITY_FLAG, WINNERS

BATTLE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class PromptIn(BaseModel):
    prompt: str


class VoteIn(BaseModel):
    winner: str


def arena(request: Request) -> ArenaState:
    return request.app.state.arena


def check_prompt(prompt: str, limit: int) -> str:
    """The prompt as given, or an ApiError saying what is wrong with it."""
    if not prompt.strip():
        raise ApiError(400, "The prompt is empty: type a question or a task.")
    if len(prompt) > limit:
        raise ApiError(413, f"The prompt is too long: {len(prompt):,} characters (the limit is {limit:,}).")
    if "\x00" in prompt:
        raise ApiError(400, "The prompt contains a NUL character.")
    if not prompt.isascii():
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "The prompt is not valid Unicode text (a lone surrogate code point).") from None
    return prompt


def client_key(request: Request, st: ArenaState) -> tuple[str, str | None]:
    """(voter pseudonym, salted IP hash) of the request."""
    host = request.client.host if request.client else None
    return voter_key(st, request.state.voter, host)


def voter_key(st: ArenaState, voter_id: str, host: str | None) -> tuple[str, str | None]:
    """(voter pseudonym, salted IP hash) from the cookie's voter id and the client address."""
    return st.cookies.pseudonym(voter_id), ip_hash(host, st.ip_salt)


async def owned_battle(st: ArenaState, battle_id: str, voter: str) -> dict[str, Any]:
    """The stored battle, if it exists and `voter` started it (unknown or forged ids: 404; others': 403)."""
    if not BATTLE_ID.fullmatch(battle_id):
        raise ApiError(404, "Unknown battle.")
    battle = await st.read(st.store.battle, battle_id)
    if battle is None or battle["source"] != "arena":
        raise ApiError(404, "Unknown battle.")
    if battle["voter"] != voter:
        raise ApiError(403, "This battle was started by someone else.")
    return battle


def turn_rows(battle_id: str, turn: int, prompt: str) -> list[dict[str, Any]]:
    created = time.time()
    return [{"battle_id": battle_id, "turn": turn, "side": side, "prompt": prompt, "created": created}
            for side in ("a", "b")]


def install(app: FastAPI) -> None:
    """Add the /api routes to `app`."""
    router = APIRouter(prefix="/api")

    @router.post("/battles")
    async def create_battle(body: PromptIn, request: Request) -> dict[str, str]:
        """Start a battle: two anonymous variants answer the prompt (stream them at /api/battles/{id}/stream)."""
        st = arena(request)
        voter, ip = client_key(request, st)
        return await start_battle(st, voter, ip, body.prompt)

    @router.get("/battles/{battle_id}/stream")
    async def stream(battle_id: str, request: Request) -> StreamingResponse:
        """Server-sent events of the battle's latest turn: start, chunk*, done|error per side, end."""
        st = arena(request)
        last = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        events = await battle_events(st, battle_id, st.cookies.pseudonym(request.state.voter), last)
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)

    @router.post("/battles/{battle_id}/turns")
    async def add_turn(battle_id: str, body: PromptIn, request: Request) -> dict[str, Any]:
        """Continue the conversation with the same two variants (each sees its own whole conversation)."""
        st = arena(request)
        prompt = check_prompt(body.prompt, st.settings.max_prompt_chars)
        voter, ip = client_key(request, st)
        battle = await owned_battle(st, battle_id, voter)
        check_open(battle, "continue")
        if battle_id in st.open_battles:
            st.open_battles[battle_id]["ready"] = False
        turns = await st.read(st.store.turns, battle_id)
        turn = max((t["turn"] for t in turns), default=-1) + 1
        if turn >= st.settings.max_turns:
            raise ApiError(409, f"This battle has reached {st.settings.max_turns} turns: vote or start a new one.")
        await check_rate(st.settings, st.limiter, "create", voter, ip)
        conv_a = [*battle["conversation_a"], {"role": "user", "content": prompt}]
        conv_b = [*battle["conversation_b"], {"role": "user", "content": prompt}]
        variants = {v.id: v for v in st.registry.variants}
        variant_a, variant_b = variants.get(battle["variant_a"]), variants.get(battle["variant_b"])
        if variant_a is None or variant_b is None:
            raise ApiError(409, "A model of this battle is no longer served; start a new battle.")
        if not await st.write(st.store.start_turn, battle_id, voter, turn_rows(battle_id, turn, prompt)):
            raise ApiError(409, "The battle changed meanwhile; reload it.")
        st.runner.start(battle_id, turn, {"a": (variant_a, conv_a), "b": (variant_b, conv_b)}, voter)
        return {"battle_id": battle_id, "turn": turn}

    @router.post("/battles/{battle_id}/vote")
    async def vote(battle_id: str, body: VoteIn, request: Request) -> dict[str, Any]:
        """Vote once, after both answers finished; the answer reveals the two variants."""
        st = arena(request)
        voter, ip = client_key(request, st)
        return await cast_vote(st, battle_id, voter, ip, body.winner)

    @router.get("/battles/{battle_id}")
    async def get_battle(battle_id: str, request: Request) -> dict[str, Any]:
        """The battle as its voter sees it: turns (sanitized HTML), status; names and timing after the vote."""
        st = arena(request)
        battle = await owned_battle(st, battle_id, st.cookies.pseudonym(request.state.voter))
        turns = await st.read(st.store.turns, battle_id)
        revealed = battle["status"] == "voted"
        out: dict[str, Any] = {"battle_id": battle_id, "status": battle["status"], "turns": []}
        for number in sorted({t["turn"] for t in turns}):
            sides = {t["side"]: t for t in turns if t["turn"] == number}
            entry: dict[str, Any] = {"prompt": sides["a"]["prompt"]}
            for side, t in sides.items():
                entry[side] = {"html": await st.render.html(t["answer"] or ""), "failed": bool(t["error"])}
                if revealed:
                    entry[side].update(ttft_s=t["ttft_s"], tokens_per_s=t["tokens_per_s"])
            out["turns"].append(entry)
        if revealed:
            out.update(model_a=battle["model_a"], model_b=battle["model_b"], winner=battle["winner"],
                       flags=battle["flags"])
        return out

    @router.get("/leaderboard")
    async def leaderboard(request: Request, category: str | None = None) -> dict[str, Any]:
        """Ratings from the stored votes (raw and style-controlled, with intervals), cached by vote count; with
        `category`, of the human votes tagged with it (an unknown category: 404). `categories` lists every label
        with its vote count."""
        st = arena(request)
        choice = await choose_category(st, st.categories, category)
        if choice.category is not None and not choice.known:
            raise ApiError(404, unknown_category_message(choice.category))
        board = choice.board if choice.board is not None else await current_board(st)
        return {**board.as_json(), "category": choice.category,
                "categories": [{"name": o.name, "votes": o.votes} for o in choice.options]}

    @router.get("/transparency")
    async def transparency(request: Request) -> dict[str, Any]:
        """Every variant ever tested, its status and votes; each variant's and provider's share of battles."""
        return await transparency_view(arena(request))

    app.include_router(router)



# The three requests of every battle. The FastAPI routes above and the fast lane (fastlane.py) both call these, so
# the rules live in one place.
async def start_battle(st: ArenaState, voter: str, ip: str | None, prompt: str) -> dict[str, str]:
    """Sample two variants, store the battle, start both answers; {"battle_id"}."""
    prompt = check_prompt(prompt, st.settings.max_prompt_chars)
    await check_rate(st.settings, st.limiter, "create", voter, ip)
    widths = None
    if st.settings.sampler == "uncertainty":
        widths = st.board.latest.widths() if st.board.latest else None
        refresh_board_soon(st)
    try:
        variant_a, variant_b, decision = st.sampler.choose(st.active_variants(), st.exposure, widths)
    except SamplerError as err:
        raise ApiError(503, f"The arena cannot start a battle: {err}.") from None
    battle_id = secrets.token_urlsafe(24)
    conversation = [{"role": "user", "content": prompt}]
    row = {
        "id": battle_id, "model_a": variant_a.name, "model_b": variant_b.name,
        "variant_a": st.variant_id(variant_a), "variant_b": st.variant_id(variant_b),
        "conversation_a": conversation, "conversation_b": conversation, "voter": voter, "ip_hash": ip,
        "status": "streaming", "created": time.time(), "sampler": decision, "flags": [],
        "language": st.language(prompt),
    }
    await st.write(st.store.create_battle, row, turn_rows(battle_id, 0, prompt))
    st.remember_battle(battle_id, voter, variant_a.name, variant_b.name)
    for variant in (variant_a, variant_b):
        st.exposure[variant.name] = st.exposure.get(variant.name, 0) + 1
    st.runner.start(battle_id, 0, {"a": (variant_a, list(conversation)), "b": (variant_b, list(conversation))},
                    voter)
    return {"battle_id": battle_id}


async def battle_events(st: ArenaState, battle_id: str, voter: str,
                        last_event_id: str | bytes | None = None) -> Iterable[bytes] | AsyncIterator[bytes]:
    """The server-sent events of the battle's latest turn after `last_event_id` (the client's Last-Event-ID):
    followed live, or rebuilt from the store."""
    last = parse_event_id(last_event_id)
    live = st.runner.live.get(battle_id)
    if live is None or live.voter != voter:
        battle = await owned_battle(st, battle_id, voter)
        live = st.runner.live.get(battle_id)
        if live is None and st.shared is not None and battle["status"] == "streaming":  # generated elsewhere
            return await remote_events(st, battle_id, f"{last[0]}-{last[1]}" if last else None)
        if live is None:
            stored = await st.read(st.store.battle, battle_id)
            battle = stored or battle
            turns = await st.read(st.store.turns, battle_id)
            return await replay(battle, turns, st.render.html)
    return live.follow(events_after(live.turn, last))


async def cast_vote(st: ArenaState, battle_id: str, voter: str, ip: str | None, winner: str) -> dict[str, Any]:
    """Store the vote (once, by the battle's voter, after both answers); the reply reveals the variants."""
    if winner not in WINNERS:
        raise ApiError(422, f"Unknown vote: use one of {', '.join(WINNERS)}.")  # the input is never echoed
    await check_rate(st.settings, st.limiter, "vote", voter, ip)
    known = st.open_battles.get(battle_id)
    if known is not None and known["ready"] and known["voter"] == voter:
        # Fast path: this process stored the battle's ready turn; the conditional UPDATE is the check.
        response = await store_vote(st, battle_id, voter, winner, known)
        if response is not None:
            return response
    battle = await owned_battle(st, battle_id, voter)
    check_open(battle, "vote on")
    response = await store_vote(st, battle_id, voter, winner, battle)
    if response is None:
        raise ApiError(409, "This battle was already voted on.")
    return response


async def store_vote(st: ArenaState, battle_id: str, voter: str, winner: str,
                     battle: dict[str, Any]) -> dict[str, Any] | None:
    """Commit the vote (only if the battle is still 'ready' and `voter`'s); the reply, or None if refused."""
    conv_a, conv_b = battle["conversation_a"], battle["conversation_b"]
    revealed = st.guard.check_answers(conv_a, conv_b)
    flags = [IDENTITY_FLAG] if revealed else []
    meta = compute_conv_metadata(conv_a, conv_b)
    if not await st.write(st.store.vote, battle_id, voter, winner, time.time(), meta, flags):
        return None
    st.open_battles.pop(battle_id, None)
    return {"model_a": battle["model_a"], "model_b": battle["model_b"], "winner": winner,
            "flags": flags, "names_in_answers": revealed}


def check_open(battle: dict[str, Any], action: str) -> None:
    """409 unless the battle is 'ready' (both answers finished, not failed, not voted)."""
    status = battle["status"]
    if status == "streaming":
        raise ApiError(409, f"Wait until both answers have finished before you {action} this battle.")
    if status == "failed":
        raise ApiError(409, "This battle failed (a model error), so it cannot be voted on or continued.")
    if status == "voted":
        raise ApiError(409, "This battle was already voted on; start a new battle.")


async def current_board(st: ArenaState) -> Any:
    """The leaderboard of the current votes. Replica mode: computed by one replica per vote count (Redis lock),
    cached in Redis for all of them."""
    if st.shared is None:
        return await st.read(lambda: st.board.get(st.store.vote_count(), st.store.voted))
    count = await st.read(st.store.vote_count)

    async def compute() -> dict[str, Any]:
        return (await st.read(lambda: st.board.get(count, st.store.voted))).as_json()

    board = Board(**await st.shared.shared_value(f"board:{count}", compute))
    st.board.put(board)
    return board


def refresh_board_soon(st: ArenaState) -> None:
    """Uncertainty sampling: recompute the ratings in the background at most every 30 s."""
    now = time.monotonic()
    if now - st.board_refreshed < 30:
        return
    st.board_refreshed = now
    task = asyncio.get_running_loop().create_task(current_board(st))
    task.add_done_callback(lambda t: t.exception())


async def transparency_view(st: ArenaState) -> dict[str, Any]:
    """transparency_data plus `excluded` (the votes the ratings leave out and why, from the cached board) and
    `selection` (per provider: variants tested, best-of-N bias, battle share against the intended share)."""
    data = await st.read(transparency_data, st)
    board = await current_board(st)
    defence = board.defence or {}
    data["excluded"] = {"identity_flagged": board.votes - board.rated_votes, "summary": defence.get("summary")}
    data["selection"] = (await selection_summary(st)).as_json()
    return data


def transparency_data(st: ArenaState) -> dict[str, Any]:
    """Rows for /transparency (runs on a reader thread)."""
    variants = st.store.variants()
    # Public counts: voted battles, and failed ones once they are public_delay_s old; never a battle that can
    # still be voted on (a count that rises when a battle starts names its pair to the person about to vote).
    counts = st.store.battle_counts(public_before=time.time() - st.settings.public_delay_s)
    total = sum(c["battles"] for (vid, _), c in counts.items() if vid is not None) // 2
    active = {(v.id, v.name) for v in st.active_variants()}
    rows: list[dict[str, Any]] = []
    providers: dict[str, int] = {}
    for row in variants:
        c = counts.get((row["id"], row["name"]), {"battles": 0, "votes": 0, "failed": 0})
        rows.append({
            "id": row["id"], "name": row["name"], "provider": row["provider"],
            "status": "public" if row["public"] else "unreleased", "added": row["added"],
            "retired": row["retired"], "first_seen": row["first_seen"], "origin": row["origin"],
            "sampled": (row["id"], row["name"]) in active, "battles": c["battles"], "votes": c["votes"],
            "failed": c["failed"],
            "share": c["battles"] / total if total else 0.0,
        })
        providers[row["provider"]] = providers.get(row["provider"], 0) + c["battles"]
    provider_rows = [{"provider": p, "battles": n, "share": n / (2 * total) if total else 0.0}
                     for p, n in sorted(providers.items(), key=lambda kv: -kv[1])]
    return {"battles": total, "variants": rows, "providers": provider_rows}
