"""The leaderboard: raw and style-controlled ratings side by side, Rank(UB), rank shift and the matrices."""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from glassboard.rating.bt import check_ci, fit_bt_table
from glassboard.rating.elo import elo_table
from glassboard.rating.errors import RatingWarning, StyleNotIdentified
from glassboard.rating.features import FEATURES, check_features, complete_rows
from glassboard.rating.result import CENTER, Ratings, rounded
from glassboard.rating.style import fit_style_table
from glassboard.rating.table import A_WINS, B_WINS, BOTHBAD, BattleTable, as_table, prepare
from glassboard.rating.threads import blas_threads
from glassboard.schema import LeaderboardRow, StyleStanding

ROW_KEYS = ("model", "rating", "ci_low", "ci_high", "rank", "rank_ub", "votes")
STYLE_KEYS = ("style_rating", "style_ci_low", "style_ci_high", "style_rank", "style_rank_ub", "rank_shift")


@dataclass
class Leaderboard:
    """Both views of one set of battles.

    `entries` (best first: by the style-controlled rating when style control is on) are typed rows
    (schema.LeaderboardRow); `rows` is their JSON form: dicts with the keys of ROW_KEYS, plus STYLE_KEYS with
    style control and `elo` when asked for.
    `models` is the row order, and the matrices are indexed in it: battle counts, observed win fraction
    (row model's wins plus half its ties, over the battles of the pair; NaN where they never met) and the
    raw model's predicted win probability.
    """

    entries: list[LeaderboardRow]
    raw: Ratings
    style: Ratings | None
    models: list[str]
    battle_counts: np.ndarray
    win_fraction: np.ndarray
    predicted_win: np.ndarray
    n_battles: int
    source: str
    excluded: dict[str, int] = field(default_factory=dict)
    elo: Ratings | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts (what the arena's API, the CLI and the files show)."""
        return [entry.to_json() for entry in self.entries]

    @property
    def style_coefficients(self) -> list[dict[str, Any]]:
        """Style coefficients (log-odds per standard deviation of each feature) with 95% intervals."""
        return self.style.style_coefficients() if self.style is not None else []

    def to_json(self, indent: int | None = 2) -> str:
        """The rows as a JSON list."""
        return json.dumps(self.rows, indent=indent, ensure_ascii=False)

    def to_csv(self) -> str:
        """The rows as CSV with a header line."""
        rows = self.rows
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else list(ROW_KEYS))
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def matrices(self) -> dict[str, Any]:
        """The matrices as JSON-ready lists (None where a pair never met)."""

        def clean(mat: np.ndarray, digits: int) -> list[list[float | None]]:
            return [[None if not math.isfinite(v) else round(float(v), digits) for v in row] for row in mat]

        return {
            "models": self.models,
            "battle_counts": self.battle_counts.astype(int).tolist(),
            "win_fraction": clean(self.win_fraction, 4),
            "predicted_win": clean(self.predicted_win, 4),
        }


def leaderboard(
    battles: Any,
    *,
    style_control: bool = True,
    ci: Literal["sandwich", "bootstrap", "none"] = "sandwich",
    rounds: int | None = None,
    seed: int | None = 0,
    bothbad: Literal["tie", "drop"] = "tie",
    reweight: bool = False,
    anchor: str | None = None,
    anchor_rating: float = CENTER,
    connected: Literal["error", "largest"] = "error",
    features: tuple[str, ...] | list[str] = FEATURES,
    elo: bool = False,
    category: str | None = None,
    language: str | None = None,
    include_flagged: bool = False,
    on_invalid: Literal["error", "skip"] = "error",
    threads: int | None = None,
) -> Leaderboard:
    """Rate `battles` (a path, a BattleTable, or Battle records / schema dicts) in both views.

    Bootstrap rounds default to 1,000 for the raw view and 100 for the style-controlled one. Both views use
    the same battles: with style control, battles without style counts are an error (or skipped, with
    on_invalid='skip') for both. Warnings (RatingWarning) are collected in `.warnings` and re-emitted.
    """
    raw_rounds = rounds if rounds is not None else 1000
    style_rounds = rounds if rounds is not None else 100
    check_ci(ci, raw_rounds)
    check_ci(ci, style_rounds)
    features = check_features(features)
    with warnings.catch_warnings(record=True) as caught, blas_threads(1):
        warnings.simplefilter("always", RatingWarning)
        table = as_table(
            battles, category=category, language=language, include_flagged=include_flagged,
            on_invalid=on_invalid, with_style=style_control,
        )  # fmt: skip
        usable: tuple[str, ...] = ()
        if style_control:
            table, usable = complete_rows(table, features, on_invalid)
        table = prepare(table, connected=connected)
        raw = fit_bt_table(table, ci=ci, rounds=raw_rounds, seed=seed, bothbad=bothbad, reweight=reweight,
                           anchor=anchor, anchor_rating=anchor_rating, threads=threads)
        style = None
        if style_control:
            try:
                style = fit_style_table(table, usable, ci=ci, rounds=style_rounds, seed=seed, bothbad=bothbad,
                                        reweight=reweight, anchor=anchor, anchor_rating=anchor_rating, threads=threads)
            except StyleNotIdentified as err:
                warnings.warn(f"{err}; showing the raw rating only", RatingWarning, 2)
        elo_r = elo_table(table, bothbad=bothbad, anchor=anchor, anchor_rating=anchor_rating) if elo else None
    messages = [str(w.message) for w in caught if issubclass(w.category, RatingWarning)]
    for w in caught:  # hand every warning on to the caller's filters
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return _assemble(table, raw, style, elo_r, messages)


def _assemble(
    table: BattleTable, raw: Ratings, style: Ratings | None, elo: Ratings | None, messages: list[str]
) -> Leaderboard:
    rank, rank_ub = raw.rank(), raw.rank_ub()
    key = style.ratings if style is not None else raw.ratings
    order = np.lexsort((np.arange(len(key)), -key))
    if style is not None:
        s_rank, s_rank_ub = style.rank(), style.rank_ub()
    entries = []
    for i in order:
        standing = None
        if style is not None:
            standing = StyleStanding(
                rating=_r(style.ratings[i]), ci_low=_r(style.ci_low[i]), ci_high=_r(style.ci_high[i]),
                rank=int(s_rank[i]), rank_ub=int(s_rank_ub[i]),
                # positive: the model climbs under style control (LMArena's arrows compare Rank(UB)s)
                rank_shift=int(rank_ub[i] - s_rank_ub[i]),
            )
        entries.append(LeaderboardRow(
            model=raw.models[i], rating=_r(raw.ratings[i]), ci_low=_r(raw.ci_low[i]), ci_high=_r(raw.ci_high[i]),
            rank=int(rank[i]), rank_ub=int(rank_ub[i]), votes=int(raw.votes[i]), style=standing,
            elo=_r(elo.ratings[i]) if elo is not None else None,
        ))
    counts, wins = _pair_matrices(table)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(counts > 0, wins / np.maximum(counts, 1), np.nan)
    np.fill_diagonal(frac, np.nan)
    ix = np.ix_(order, order)
    return Leaderboard(
        entries=entries,
        raw=raw,
        style=style,
        models=[raw.models[i] for i in order],
        battle_counts=counts[ix],
        win_fraction=frac[ix],
        predicted_win=raw.win_probability()[ix],
        n_battles=raw.n_battles,
        source=table.source,
        excluded=dict(table.excluded),
        elo=elo,
        warnings=messages,
    )


def _r(value: float) -> float | None:
    """Rounded to 0.01; None for an unbounded interval end (JSON has no infinity)."""
    return rounded(value, 2)


def _pair_matrices(table: BattleTable) -> tuple[np.ndarray, np.ndarray]:
    """Battle counts and row-model scores (win 1, tie or both-bad 0.5) for every ordered pair."""
    m = table.n_models
    a, b, o = table.a.astype(np.int64), table.b.astype(np.int64), table.outcome
    counts = np.bincount(a * m + b, minlength=m * m).reshape(m, m).astype(np.float64)
    counts += counts.T
    score_a = np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))
    score_a[o == BOTHBAD] = 0.5
    wins = np.bincount(a * m + b, weights=score_a, minlength=m * m).reshape(m, m)
    wins += np.bincount(b * m + a, weights=1.0 - score_a, minlength=m * m).reshape(m, m)
    return counts, wins
