"""The transparency page's selection-bias and sampling-fairness summary (issue 16), from the arena's public votes.

Why a module of its own: audit/selection.py measures (per provider: variants tested, best-of-N bias of its top
variant and the corrected rating, battle share against a uniform sampler's with a chi-square test); this runs it
on the store the way the leaderboard runs the rating library: on a reader thread, cached by what changes it (the
number of votes and the list of variants), shared through Redis in replica mode, and turned into typed rows.

Only voted battles enter (the threat model's rule, docs/arena.md): a battle that can still be voted on never
changes this summary, so it cannot name a pending battle's pair.
"""

from __future__ import annotations

import hashlib
import math
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from glassboard.audit.selection import FAIR_ALPHA, Variant, audit_selection
from glassboard.rating.errors import RatingError
from glassboard.rating.table import BattleTable

MIN_VOTES = 2  # below this there is nothing to fit
SEED = 0  # the Monte Carlo of the best-of-N bias is seeded, so the page is the same on every load and replica


@dataclass(frozen=True, slots=True)
class ProviderSelection:
    """One provider's row: what it tested, the bias of reporting its best variant, and its share of battles."""

    provider: str
    tested: int  # variants in the store (public and unreleased)
    public: int
    unreleased: int
    rated: int  # variants with a rating (they took part in voted battles)
    top: str | None  # its best-rated variant
    top_rating: float | None
    bias: float | None  # E[r_best - mu_best]: how much the top rating is inflated by picking the best
    bias_if_equal: float | None  # the same if all its variants were equally strong (s * e_N)
    corrected: float | None  # top_rating - bias
    battle_slots: int  # battle sides it filled in voted battles
    share: float | None  # of all battle slots
    intended_share: float | None  # under a uniform pair sampler over the models active at the time
    p_value: float | None  # binomial z-test, Bonferroni over providers
    flag: str | None  # "over-sampled" | "under-sampled" | None


@dataclass(frozen=True, slots=True)
class SelectionSummary:
    """The summary the transparency page shows, or a message saying why there is none yet."""

    votes: int
    sampler: str  # the arena's sampler ("uniform" or "uncertainty"); the intended share is the uniform one
    capped: bool  # exposure caps are configured (they intend unequal shares too)
    providers: list[ProviderSelection] = field(default_factory=list)
    chi2: float | None = None
    df: int = 0
    p_value: float | None = None
    alpha: float = FAIR_ALPHA
    flagged: list[str] = field(default_factory=list)
    message: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SelectionSummary:
        """Back from `as_json` (replica mode: another replica's summary, from Redis)."""
        providers = [ProviderSelection(**p) for p in data.get("providers", [])]
        return cls(**{**data, "providers": providers})


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def compute(battles: Iterable[dict[str, Any]], variants: list[dict[str, Any]], votes: int, sampler: str,
            capped: bool) -> SelectionSummary:
    """Run the selection audit on `battles` (voted, LMArena-schema dicts) with `variants` (store rows)."""
    base = SelectionSummary(votes=votes, sampler=sampler, capped=capped)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        usable = [b for b in battles if not b.get("flags")]  # identity-flagged votes are not rated anywhere
        if len(usable) < MIN_VOTES:
            return _with(base, message=f"Not enough usable votes for the selection audit yet: {len(usable)}.")
        try:
            table = BattleTable.from_battles(usable, source="arena votes", on_invalid="skip", with_style=False)
            report = audit_selection(table, _variant_map(variants), seed=SEED, name="arena votes")
        except RatingError as err:
            return _with(base, message=f"The selection audit cannot run yet: {err}")
    providers = [ProviderSelection(
        provider=p.provider, tested=p.tested, public=p.public, unreleased=p.unreleased, rated=p.rated, top=p.top,
        top_rating=_finite(p.top_rating), bias=_finite(p.bias), bias_if_equal=_finite(p.bias_if_equal),
        corrected=_finite(p.corrected), battle_slots=p.slots, share=_finite(p.share),
        intended_share=_finite(p.intended_share), p_value=_finite(p.p_value), flag=p.flag) for p in report.providers]
    fairness = report.fairness
    return SelectionSummary(votes=votes, sampler=sampler, capped=capped, providers=providers,
                            chi2=_finite(fairness.chi2), df=fairness.df, p_value=_finite(fairness.p_value),
                            alpha=fairness.alpha, flagged=list(fairness.flagged))


def _with(summary: SelectionSummary, *, message: str) -> SelectionSummary:
    return SelectionSummary(votes=summary.votes, sampler=summary.sampler, capped=summary.capped, message=message)


def _variant_map(rows: list[dict[str, Any]]) -> dict[str, Variant]:
    """Model name -> provider and release status (a name with several ids is public if any of them is)."""
    out: dict[str, Variant] = {}
    for row in rows:
        name = str(row["name"])
        public = bool(row["public"]) or (name in out and out[name].public)
        out[name] = Variant(str(row["provider"]), public)
    return out


def variants_key(rows: list[dict[str, Any]]) -> str:
    """A short digest of what the summary reads from the variant list (names, providers, release status)."""
    text = "\n".join(sorted(f"{r['name']}\t{r['provider']}\t{bool(r['public'])}" for r in rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SelectionCache:
    """The latest summary, recomputed only when the vote count or the variant list changed (owned by ArenaState)."""

    def __init__(self) -> None:
        self._key: tuple[int, str] | None = None
        self._summary: SelectionSummary | None = None
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str], make: Callable[[], SelectionSummary]) -> SelectionSummary:
        with self._lock:
            if self._summary is None or self._key != key:
                self._summary, self._key = make(), key
            return self._summary


async def selection_summary(st: Any) -> SelectionSummary:
    """The current summary (computed off the event loop; replica mode: by one replica per key, via Redis)."""
    settings = st.settings
    capped = bool(settings.exposure_caps) or settings.default_cap is not None

    def key_and_variants() -> tuple[tuple[int, str], list[dict[str, Any]]]:
        rows = st.store.variants()
        return (st.store.vote_count(), variants_key(rows)), rows

    key, rows = await st.read(key_and_variants)

    def make() -> SelectionSummary:
        return compute(st.store.voted(), rows, key[0], settings.sampler, capped)

    if st.shared is None:
        return await st.read(st.selection.get, key, make)

    async def shared() -> dict[str, Any]:
        return (await st.read(st.selection.get, key, make)).as_json()

    return SelectionSummary.from_json(await st.shared.shared_value(f"selection:{key[0]}:{key[1]}", shared))
