"""Style audit: per-variant answer style, raw vs style-controlled rating and rank, and which ranks come from style."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glassboard.models.types import ConfigError
from glassboard.rating.errors import RatingWarning
from glassboard.schema import JsonRecord, LeaderboardRow

STYLE_COLUMNS = ("tokens", "headers", "lists", "bold", "emoji")  # the order of BattleTable.counts
CiMethod = Literal["sandwich", "bootstrap", "none"]
CI_METHODS: tuple[CiMethod, ...] = ("sandwich", "bootstrap", "none")
ON_INVALID: tuple[Literal["error", "skip"], ...] = ("error", "skip")
LEAD_SHARE = 0.25  # a lead "comes from style" when style control removes at least three quarters of it

RULE = (
    "A variant is flagged when (1) its style-controlled rating interval lies entirely below its raw interval and "
    "it loses places, or (2) it has a significant raw lead over another variant (its raw 95% interval lies above "
    f"the other's) that style control shrinks to at most {LEAD_SHARE:.0%} of its raw size and that is no longer "
    "significant (the style-controlled intervals overlap, or the order reverses). A fall in ordinal rank alone is "
    "reported (rank_drop) but not flagged: with many close variants it happens by noise."
)


@dataclass(frozen=True, slots=True)
class StyleVariant(JsonRecord):
    """One variant in the style audit: its mean answer style, raw and style-controlled standing, and its flag."""

    model: str
    battles: int
    tokens: float  # per answer; NaN when no answer of it has the feature counted
    headers: float
    lists: float
    bold: float
    emoji: float
    rating: float | None
    ci_low: float | None
    ci_high: float | None
    rank: int
    style_rating: float | None
    style_ci_low: float | None
    style_ci_high: float | None
    style_rank: int | None
    rank_ub: int
    style_rank_ub: int | None
    rank_shift: int | None
    rank_drop: int | None
    flagged: bool
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class StyleCoefficient(JsonRecord):
    """A style feature's coefficient (log-odds per standard deviation) with its 95% interval."""

    feature: str
    coef: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, slots=True)
class StyleReport(JsonRecord):
    """`audit style`: per variant answer style and raw vs style-controlled standing; which ranks come from style."""

    audit: Literal["style"] = field(default="style", init=False)
    source: str
    battles: int
    excluded: dict[str, int]
    variants: list[StyleVariant]
    flagged: list[str]
    style_identified: bool
    style_coefficients: list[StyleCoefficient]
    rule: str
    ci: str
    warnings: list[str]


def load_db_battles(url: str) -> list[dict[str, Any]]:
    """The voted battles of an arena database as schema rows, read-only (no migration is run)."""
    from glassboard.store.battles import Store
    from glassboard.store.db import is_sqlite, normalize_url

    url = normalize_url(url)
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not Path(path).is_file():
            raise ConfigError(f"arena database not found: {path}")
    try:
        store = Store(url, migrate=False)
    except Exception as err:  # bad URL or driver: SQLAlchemy raises several types
        raise ConfigError(f"cannot open the arena database {url}: {err}") from None
    try:
        return list(store.voted())
    except Exception as err:  # no battles table (not an arena database), connection refused, ...
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"cannot read battles from {url}: {message}") from None
    finally:
        store.close()


def style_profile(table: Any) -> dict[str, dict[str, float]]:
    """Per variant: battles and the mean per answer of tokens, headers, list items, bold spans and emoji."""
    out: dict[str, dict[str, float]] = {}
    for i, name in enumerate(table.models):
        per_side = [table.counts[table.a == i, 0, :], table.counts[table.b == i, 1, :]]
        counts = np.concatenate(per_side, axis=0).astype(np.float64)
        row: dict[str, float] = {"battles": int(counts.shape[0])}
        for k, column in enumerate(STYLE_COLUMNS):
            known = counts[:, k][~np.isnan(counts[:, k])]
            row[column] = round(float(known.mean()), 3) if known.size else math.nan
        out[name] = row
    return out


def style_flags(rows: Sequence[LeaderboardRow], lead_share: float = LEAD_SHARE) -> dict[str, list[str]]:
    """{variant: [reasons]} for the variants whose rank comes from style (empty list = not flagged); see RULE.

    Only models whose raw and style-controlled intervals the votes determine take part (a model with an
    undetermined interval can be neither flagged nor the other side of a flagged lead)."""
    flags: dict[str, list[str]] = {row.model: [] for row in rows}
    bounded = [b for b in (_Bounds.of(row) for row in rows) if b is not None]
    for x in bounded:
        if x.s_high < x.low and x.s_rank > x.rank:
            flags[x.model].append(
                f"its rating falls from {x.rating:.0f} [{x.low:.0f}, {x.high:.0f}] to "
                f"{x.s_rating:.0f} [{x.s_low:.0f}, {x.s_high:.0f}] under style control "
                f"(rank {x.rank} -> {x.s_rank})"
            )
        for y in bounded:
            raw_lead = x.rating - y.rating
            if y.model == x.model or raw_lead <= 0 or not x.low > y.high:
                continue
            style_lead = x.s_rating - y.s_rating
            still_significant = x.s_low > y.s_high
            if style_lead <= lead_share * raw_lead and not still_significant:
                reversed_ = y.s_low > x.s_high
                flags[x.model].append(
                    f"its significant raw lead over {y.model} ({raw_lead:+.0f} points) is {style_lead:+.0f} under "
                    f"style control ({'significantly reversed' if reversed_ else 'no longer significant'})"
                )
    return flags


@dataclass(frozen=True, slots=True)
class _Bounds:
    """A leaderboard row whose raw and style-controlled ratings and intervals are all determined."""

    model: str
    rating: float
    low: float
    high: float
    rank: int
    s_rating: float
    s_low: float
    s_high: float
    s_rank: int

    @classmethod
    def of(cls, row: LeaderboardRow) -> _Bounds | None:
        s = row.style
        if s is None or s.rating is None or s.ci_low is None or s.ci_high is None:
            return None
        if row.rating is None or row.ci_low is None or row.ci_high is None:
            return None
        return cls(row.model, row.rating, row.ci_low, row.ci_high, row.rank, s.rating, s.ci_low, s.ci_high, s.rank)


def audit_style(
    battles: Any,
    *,
    source: str | None = None,
    ci: str = "sandwich",
    rounds: int | None = None,
    seed: int = 0,
    include_flagged: bool = False,
    on_invalid: str = "error",
) -> StyleReport:
    """Audit a battle log (path, BattleTable or schema rows) with the rating library; JSON-able report."""
    from glassboard.rating.leaderboard import leaderboard
    from glassboard.rating.table import as_table

    if ci not in CI_METHODS or on_invalid not in ON_INVALID:
        raise ConfigError(f"ci must be one of {', '.join(CI_METHODS)} and on_invalid 'error' or 'skip', "
                          f"got {ci!r} and {on_invalid!r}")
    table = as_table(battles, include_flagged=include_flagged, on_invalid=on_invalid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RatingWarning)  # collected in board.warnings and reported with the audit
        board = leaderboard(table, style_control=True, ci=ci, rounds=rounds, seed=seed, on_invalid=on_invalid)
    profile = style_profile(table)
    flags = style_flags(board.entries)
    variants = []
    for row in board.entries:
        p, st = profile[row.model], row.style
        variants.append(StyleVariant(
            model=row.model, battles=int(p["battles"]), tokens=p["tokens"], headers=p["headers"], lists=p["lists"],
            bold=p["bold"], emoji=p["emoji"], rating=row.rating, ci_low=row.ci_low, ci_high=row.ci_high,
            rank=row.rank, style_rating=st.rating if st else None, style_ci_low=st.ci_low if st else None,
            style_ci_high=st.ci_high if st else None, style_rank=st.rank if st else None, rank_ub=row.rank_ub,
            style_rank_ub=st.rank_ub if st else None, rank_shift=st.rank_shift if st else None,
            rank_drop=st.rank - row.rank if st else None, flagged=bool(flags[row.model]), reasons=flags[row.model],
        ))
    return StyleReport(
        source=str(source or getattr(table, "source", "<battles>")), battles=board.n_battles, excluded=board.excluded,
        variants=variants, flagged=[v.model for v in variants if v.flagged], style_identified=board.style is not None,
        style_coefficients=[StyleCoefficient(**c) for c in board.style_coefficients], rule=RULE, ci=ci,
        warnings=board.warnings,
    )
