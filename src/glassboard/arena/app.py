"""`create_app(settings)`: the arena's FastAPI app; all state lives on `app.state` (see `ArenaState`)."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import gc
import logging
import random
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from glassboard.arena.board import BoardCache
from glassboard.arena.guard import IdentityGuard, load_identity_terms
from glassboard.arena.integrity import COOKIE, RateLimiter, VoterCookies
from glassboard.arena.language import LanguageDetector
from glassboard.arena.render import Renderer
from glassboard.arena.sampler import PairSampler
from glassboard.arena.settings import Settings
from glassboard.arena.streaming import AnswerLimits, BattleRunner
from glassboard.store.battles import Store
from glassboard.store.group_commit import GroupCommitWriter, WalCheckpointer
from glassboard.store.writer_process import ProcessGroupCommitWriter

T = TypeVar("T")
HERE = Path(__file__).parent
log = logging.getLogger("glassboard.arena")


@dataclass
class ArenaState:
    """Everything one running arena owns: store, models, sampler, limits, caches."""

    settings: Settings
    store: Store
    registry: Any
    hub: Any
    runner: BattleRunner
    guard: IdentityGuard
    sampler: PairSampler
    limiter: RateLimiter
    cookies: VoterCookies
    ip_salt: str
    render: Renderer
    board: BoardCache
    language: LanguageDetector
    exposure: dict[str, int] = field(default_factory=dict)  # battles sampled per variant name
    retired: set[tuple[str, str]] = field(default_factory=set)  # (id, name) retired by an admin
    writer: GroupCommitWriter | ProcessGroupCommitWriter | None = None
    checkpointer: WalCheckpointer | None = None
    reader: concurrent.futures.ThreadPoolExecutor | None = None
    # Battles started here and not voted yet: {"voter", "model_a", "model_b"}, plus the conversations and
    # "ready": True once the latest turn is stored as ready. Lets a vote skip reading the battle back (the vote's
    # conditional UPDATE still checks voter and status; any miss or refusal takes the full path). Bounded.
    open_battles: collections.OrderedDict[str, dict[str, Any]] = field(default_factory=collections.OrderedDict)
    # Variant ids by object (Variant.id hashes the variant's JSON each time; variants are frozen dataclasses).
    _variant_ids: dict[int, tuple[Any, str]] = field(default_factory=dict)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store write (`fn(*args, conn=...)`) on the group-commit writer; returns after its commit."""
        assert self.writer is not None
        return await self.writer.submit(fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.reader, lambda: fn(*args))

    OPEN_BATTLES = 10_000

    def remember_battle(self, battle_id: str, voter: str, model_a: str, model_b: str) -> None:
        self.open_battles[battle_id] = {"voter": voter, "model_a": model_a, "model_b": model_b, "ready": False}
        while len(self.open_battles) > self.OPEN_BATTLES:
            self.open_battles.popitem(last=False)

    def variant_id(self, variant: Any) -> str:
        """`variant.id`, computed once per variant object."""
        hit = self._variant_ids.get(id(variant))
        if hit is None or hit[0] is not variant:
            hit = self._variant_ids[id(variant)] = (variant, variant.id)
        return hit[1]

    def active_variants(self) -> list[Any]:
        """Variants the sampler may draw: in the registry, not retired there nor by an admin."""
        return [v for v in self.registry.variants
                if not v.retired and (self.variant_id(v), v.name) not in self.retired]

    def refresh_variants(self) -> None:
        """Reload retirements and the identity guard's names from the store (after admin changes)."""
        rows = self.store.variants()
        self.retired = {(r["id"], r["name"]) for r in rows if r["retired"]}
        # arena content: names anywhere, providers/families/vendors in self-identification (see guard.py)
        names = [r["name"] for r in rows] + [a for r in rows for a in (r["snapshot"] or {}).get("aliases", [])]
        self.guard = IdentityGuard.from_variants(self.registry.variants, names, [r["provider"] for r in rows],
                                                 load_identity_terms(self.settings.identity_terms))

    def today(self) -> str:
        return dt.date.today().isoformat()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the arena: open (and migrate) the store, record the registry's variants, wire routes and pages."""
    from glassboard.arena import admin, api, errors, pages
    from glassboard.arena.fastlane import ArenaApp
    from glassboard.arena.integrity_middleware import VoterGate, VoterMiddleware
    from glassboard.models import ModelHub, Registry

    settings = settings or Settings.from_env()
    settings.check()
    registry = settings.registry or Registry.load(settings.config_path)
    # SQLite checkpoints run on their own thread (WalCheckpointer below), not inside a vote's commit.
    store = Store(settings.db_url, sqlite_sync=settings.sqlite_sync, auto_checkpoint=False)
    store.sync_variants(registry.variants)
    registry = admin.with_admin_variants(registry, store, admin.AdminPolicy.from_settings(settings))
    interrupted = store.fail_interrupted()
    if interrupted:
        log.warning("marked %d battle(s) left streaming by a previous run as failed", interrupted)
    secret = settings.secret_key or store.meta_value("cookie_secret")
    hub = ModelHub(registry)
    render = Renderer()
    state = ArenaState(
        settings=settings,
        store=store,
        registry=registry,
        hub=hub,
        runner=None,  # type: ignore[arg-type] - set below (needs the state for its store callback)
        guard=IdentityGuard([]),
        sampler=PairSampler(
            mode=settings.sampler, exploration=settings.exploration, caps=settings.exposure_caps,
            default_cap=settings.default_cap, cap_min_battles=settings.cap_min_battles,
            rng=random.Random(settings.seed),
        ),
        limiter=RateLimiter(),
        cookies=VoterCookies(secret),
        ip_salt=store.meta_value("ip_salt"),
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

    async def finish_turn(battle_id: str, turn: int, status: str, conv_a: list, conv_b: list, *rest: Any) -> None:
        await state.write(store.finish_turn, battle_id, turn, status, conv_a, conv_b, *rest)
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
        found, html = await render.offload(lambda: (guard.find(text), render(text)))
        return html

    state.runner = BattleRunner(hub, render_answer, finish_turn, settings.generation, fail_turn=fail_turn,
                                limits=limits)
    # ----------------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Everything loaded so far (modules, app, tables, registry) lives as long as the server: move it out of the
        # collector's reach, so a full collection scans only what requests created (measured: 20-76 ms pauses of
        # the event loop without this, the largest source of p99 latency after the disk).
        await asyncio.get_running_loop().run_in_executor(None, state.language.load)
        gc.collect()
        gc.freeze()
        yield
        await state.runner.aclose()
        await hub.aclose()
        await state.writer.aclose()
        if state.checkpointer is not None:
            state.checkpointer.close()
        state.reader.shutdown(wait=True)
        render.close()
        store.close()

    app = ArenaApp(title="glassboard arena", lifespan=lifespan, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.arena = state
    app.gate = VoterGate(state.cookies, COOKIE, secure=settings.secure_cookies,
                         max_body=4 * settings.max_prompt_chars + 4096)
    app.add_middleware(VoterMiddleware, gate=app.gate)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app)
    api.install(app)
    admin.install(app)
    pages.install(app)
    return app
