"""Online Elo over battles in time order: a reference view (order-dependent, no interval)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from glassboard.rating.errors import RatingError
from glassboard.rating.result import CENTER, Ratings, anchor_index
from glassboard.rating.table import A_WINS, B_WINS, BOTHBAD, BattleTable, as_table, prepare

_MAX_EXPONENT = 60.0  # clip (r_b - r_a)/scale so 10**x never overflows, whatever the ratings did


def elo_table(
    table: BattleTable,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = CENTER,
    bothbad: str = "tie",
    anchor: str | None = None,
    anchor_rating: float = CENTER,
) -> Ratings:
    """Online Elo on a table: battles in `tstamp` order when every battle has one, else in file order."""
    if not (k > 0 and scale > 0 and base > 1):
        raise RatingError("Elo needs k > 0, scale > 0 and base > 1")
    order = np.arange(len(table))
    if len(table) and not np.isnan(table.tstamp).any():
        order = np.argsort(table.tstamp, kind="stable")
    a, b, outcome = table.a[order].tolist(), table.b[order].tolist(), table.outcome[order].tolist()
    score_of = {A_WINS: 1.0, B_WINS: 0.0}
    ratings = [float(init)] * table.n_models
    lim = _MAX_EXPONENT
    for i, j, o in zip(a, b, outcome, strict=True):
        if o == BOTHBAD and bothbad == "drop":
            continue
        ri, rj = ratings[i], ratings[j]
        x = min(max((rj - ri) / scale, -lim), lim)
        delta = k * (score_of.get(o, 0.5) - 1.0 / (1.0 + base**x))
        ratings[i] = ri + delta
        ratings[j] = rj - delta
    values = np.asarray(ratings)
    idx = anchor_index(table.models, anchor)
    if idx is not None:
        values += anchor_rating - values[idx]
    return Ratings(
        models=table.models,
        ratings=values,
        ci_low=values.copy(),
        ci_high=values.copy(),
        votes=table.votes(),
        theta=(values - values.mean()) * np.log(base) / scale,
        method="elo",
        ci="none",
        n_battles=len(table),
        anchor=anchor,
    )


def fit_elo(
    battles: Any,
    *,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = CENTER,
    bothbad: Literal["tie", "drop"] = "tie",
    anchor: str | None = None,
    anchor_rating: float = CENTER,
    connected: Literal["error", "largest"] = "error",
    **filters: Any,
) -> Ratings:
    """Online Elo ratings (K=4, 400 points per factor 10, start 1000, as LMArena's reference Elo).

    Elo depends on the order of the battles and has no interval: the bounds equal the rating (ci='none').
    It never raises on odd data: ties score 0.5 and the expected score is computed with a clipped exponent.
    """
    table = prepare(as_table(battles, with_style=False, **filters), connected=connected)
    return elo_table(
        table, k=k, scale=scale, base=base, init=init, bothbad=bothbad, anchor=anchor, anchor_rating=anchor_rating
    )
