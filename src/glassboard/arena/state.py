"""`ArenaState`: everything one running arena owns (store, models, sampler, limits, caches), typed, so the API and
the fast lane read it without importing the app module."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from glassboard.arena.board import BoardCache
from glassboard.arena.categories import CategoryCache
from glassboard.arena.fairness import SelectionCache
from glassboard.arena.guard import IdentityGuard, load_identity_terms
from glassboard.arena.integrity import RateLimiter, VoterCookies
from glassboard.arena.language import LanguageDetector
from glassboard.arena.render import Renderer
from glassboard.arena.sampler import PairSampler
from glassboard.arena.settings import Settings
from glassboard.arena.shared import SharedState
from glassboard.arena.streaming import BattleRunner
from glassboard.store.battles import Store
from glassboard.store.group_commit import GroupCommitWriter, WalCheckpointer
from glassboard.store.writer_process import ProcessGroupCommitWriter

T = TypeVar("T")


@dataclass
class ArenaState:
    """Everything one running arena owns: store, models, sampler, limits, caches."""

    settings: Settings
    store: Store
    registry: Any
    hub: Any
    guard: IdentityGuard
    sampler: PairSampler
    limiter: RateLimiter | SharedState  # in-process buckets, or Redis' (replica mode)
    cookies: VoterCookies
    ip_salt: str
    render: Renderer
    board: BoardCache
    language: LanguageDetector
    # SQLite: one writer thread. PostgreSQL: writes in a child process (see store/writer_process.py).
    writer: GroupCommitWriter | ProcessGroupCommitWriter
    reader: concurrent.futures.ThreadPoolExecutor
    runner: BattleRunner = field(init=False)  # built by create_app on this state's callbacks (turn stored/failed)
    exposure: dict[str, int] = field(default_factory=dict)  # battles sampled per variant name
    retired: set[tuple[str, str]] = field(default_factory=set)  # (id, name) retired by an admin
    checkpointer: WalCheckpointer | None = None
    # Battles started here and not voted yet: {"voter", "model_a", "model_b"}, plus the conversations and
    # "ready": True once the latest turn is stored as ready. Lets a vote skip reading the battle back (the vote's
    # conditional UPDATE still checks voter and status; any miss or refusal takes the full path). Bounded.
    open_battles: collections.OrderedDict[str, dict[str, Any]] = field(default_factory=collections.OrderedDict)
    # Variant ids by object (Variant.id hashes the variant's JSON each time; variants are frozen dataclasses).
    _variant_ids: dict[int, tuple[Any, str]] = field(default_factory=dict)
    shared: SharedState | None = None  # replica mode: live turns, rate limits and the leaderboard in Redis
    draining: bool = False  # shutting down: /readyz says 503 so a load balancer stops sending requests
    board_refreshed: float = 0.0  # monotonic time the uncertainty sampler last asked for fresh ratings
    categories: CategoryCache = field(default_factory=CategoryCache)  # per-category and judged boards (issue 15)
    selection: SelectionCache = field(default_factory=SelectionCache)  # transparency's selection audit (issue 16)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store write (`fn(*args, conn=...)`) on the group-commit writer; returns after its commit."""
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
        # Names and aliases count anywhere; providers, families and vendors in self-identification (see guard.py).
        names = [r["name"] for r in rows] + [a for r in rows for a in (r["snapshot"] or {}).get("aliases", [])]
        self.guard = IdentityGuard.from_variants(self.registry.variants, names, [r["provider"] for r in rows],
                                                 load_identity_terms(self.settings.identity_terms))

    def today(self) -> str:
        return dt.date.today().isoformat()
