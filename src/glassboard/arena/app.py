"""`create_app(settings)`: the arena's FastAPI app (with the fast lane in front); its state is `app.state.arena`,
an `ArenaState` (state.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import hashlib
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from glassboard.arena import admin, api, http, pages, replicas, reports
from glassboard.arena.board import BoardCache
from glassboard.arena.fastlane import ArenaApp
from glassboard.arena.guard import IdentityGuard
from glassboard.arena.integrity import COOKIE, RateLimiter, VoterCookies
from glassboard.arena.integrity_middleware import VoterGate, VoterMiddleware
from glassboard.arena.keys import default_key_path, derive_key, load_or_create_key
from glassboard.arena.language import LanguageDetector
from glassboard.arena.render import Renderer
from glassboard.arena.sampler import PairSampler
from glassboard.arena.settings import Settings
from glassboard.arena.shared import SharedState, check_reachable
from glassboard.arena.state import ArenaState
from glassboard.arena.streaming import AnswerLimits, BattleRunner
from glassboard.models import ModelHub, Registry
from glassboard.schema import GlassboardError
from glassboard.store.battles import Store
from glassboard.store.db import normalize_url
from glassboard.store.group_commit import GroupCommitWriter, WalCheckpointer
from glassboard.store.writer_process import ProcessGroupCommitWriter

HERE = Path(__file__).parent
log = logging.getLogger("glassboard.arena")
__all__ = ["ArenaState", "create_app"]


class TurnNotStored(GlassboardError):
    """The store refused to finish a turn: the battle is no longer 'streaming' (a replica failed it)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the arena: open (and migrate) the store, record the registry's variants, wire routes and pages."""
    settings = settings or Settings.from_env()
    settings.check()
    registry = settings.registry or Registry.load(settings.config_path)
    secret = settings.secret_key or load_or_create_key(Path(settings.secret_file or default_key_path(settings.db_url)))
    shared = None  # Redis is checked before the database is touched
    if settings.redis_url:  # replica mode: the others' live battles are not ours to fail (the sweep does that)
        check_reachable(settings.redis_url)
        namespace = "gb:" + hashlib.sha256(normalize_url(settings.db_url).encode()).hexdigest()[:10]
        shared = SharedState(settings.redis_url, heartbeat_ttl_s=settings.heartbeat_ttl_s, namespace=namespace)
    # SQLite checkpoints run on their own thread (WalCheckpointer below), not inside a vote's commit.
    store = Store(settings.db_url, sqlite_sync=settings.sqlite_sync, auto_checkpoint=False)
    store.sync_variants(registry.variants)
    registry = admin.with_admin_variants(registry, store, admin.AdminPolicy.from_settings(settings))
    interrupted = store.fail_interrupted() if shared is None else 0
    if interrupted:
        log.warning("marked %d battle(s) left streaming by a previous run as failed", interrupted)
    hub = ModelHub(registry)
    render = Renderer()
    state = ArenaState(
        settings=settings,
        store=store,
        registry=registry,
        hub=hub,
        guard=IdentityGuard([]),
        sampler=PairSampler(
            mode=settings.sampler, exploration=settings.exploration, caps=settings.exposure_caps,
            default_cap=settings.default_cap, cap_min_battles=settings.cap_min_battles,
            rng=random.Random(settings.seed),
        ),
        limiter=shared or RateLimiter(),
        shared=shared,
        cookies=VoterCookies(secret),
        ip_salt=derive_key(secret, "ip-hash"),
        render=render,
        board=BoardCache(),
        language=LanguageDetector(),
        # SQLite: one writer thread. PostgreSQL: writes in a child process (see store/writer_process.py).
        writer=GroupCommitWriter(store.engine) if store.sqlite else ProcessGroupCommitWriter(store.url),
        checkpointer=WalCheckpointer(store.engine) if store.sqlite else None,
        reader=concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="db-read"),
    )
    for (vid, name), c in store.battle_counts().items():
        if vid is not None:
            state.exposure[name] = state.exposure.get(name, 0) + c["battles"]
    state.refresh_variants()

    async def finish_turn(battle_id: str, turn: int, status: str, conv_a: list[dict[str, Any]],
                          conv_b: list[dict[str, Any]], *rest: Any) -> None:
        if not await state.write(store.finish_turn, battle_id, turn, status, conv_a, conv_b, *rest):
            state.open_battles.pop(battle_id, None)
            raise TurnNotStored(f"battle {battle_id} is no longer streaming (failed by another replica)")
        entry = state.open_battles.get(battle_id)
        if entry is not None and status == "ready":
            entry.update(conversation_a=conv_a, conversation_b=conv_b, ready=True)
        elif entry is not None:
            del state.open_battles[battle_id]

    # --- arena content (answer limits, failed stores, rendering off the loop): see streaming.py --------------
    async def fail_turn(battle_id: str, turn: int, reason: str) -> None:
        state.open_battles.pop(battle_id, None)
        await state.write(store.fail_turn, battle_id, turn, reason)

    limits = AnswerLimits(token_margin=settings.answer_token_margin, max_bytes=settings.max_answer_bytes)
    async def render_answer(text: str) -> str:
        """A finished answer's HTML; the identity guard reads it on the same thread (cached for the vote)."""
        guard = state.guard
        found, html = await render.offload(lambda: (guard.find(text), render(text)), size=len(text))
        return html

    state.runner = BattleRunner(hub, render_answer, finish_turn, settings.generation, fail_turn=fail_turn,
                                limits=limits, publish=shared.publish if shared else None)

    async def sweep() -> None:
        await replicas.sweep(state)
    # ----------------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far (modules, app, tables, registry) lives as long as the server: move it out of the
        # collector's reach, so a full collection scans only what requests created (measured: 20-76 ms pauses of
        # the event loop without this, the largest source of p99 latency after the disk).
        await asyncio.get_running_loop().run_in_executor(None, state.language.load)
        if shared is not None:
            await shared.start(sweep, lambda: list(state.runner.live.values()))
        gc.collect()
        gc.freeze()
        yield
        state.draining = True
        if shared is not None:  # a replica going away lets its turns finish (one process fails them at next start)
            await state.runner.drain(settings.drain_s)
        await state.runner.aclose()
        if shared is not None:
            await shared.aclose()
        await hub.aclose()
        await state.writer.aclose()
        if state.checkpointer is not None:
            state.checkpointer.close()
        state.reader.shutdown(wait=True)
        render.close()
        store.close()

    # No interactive docs: they would load a third-party script; the schema stays at /api/openapi.json.
    app = ArenaApp(title="glassboard arena", lifespan=lifespan, docs_url=None, redoc_url=None,
                   openapi_url="/api/openapi.json")
    app.state.arena = state
    app.rules = http.HttpRules.from_settings(settings)
    app.gate = VoterGate(state.cookies, COOKIE, secure=settings.secure_cookies)
    app.add_middleware(VoterMiddleware, gate=app.gate)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    http.install_handlers(app, pages.error_page)
    api.install(app)
    replicas.install(app)
    admin.install(app)
    pages.install(app)
    reports.install(app, settings.reports_dir)
    return app
