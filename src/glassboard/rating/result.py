"""`Ratings` (a fitted rating with intervals) and the rating scale: 400/ln 10 points per logit, centre 1000."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from glassboard.rating.errors import RatingError

SCALE = 400.0 / math.log(10.0)  # rating points per unit of log-odds: 400 points = 10:1 odds, as in Elo
CENTER = 1000.0
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Ratings:
    """A fitted rating: `ratings[i]` of `models[i]` with a 95% interval [`ci_low`, `ci_high`].

    `theta` are the strengths in log-odds (sum zero); `cov` the rating covariance (sandwich) and `samples`
    the bootstrap ratings (rounds x models) when those were computed. Style-controlled fits also carry the
    style coefficients (log-odds per standard deviation of each normalised feature difference).
    """

    models: list[str]
    ratings: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    votes: np.ndarray
    theta: np.ndarray
    method: str
    ci: str
    n_battles: int
    cov: np.ndarray | None = None
    samples: np.ndarray | None = None
    rounds: int = 0
    seed: int | None = None
    anchor: str | None = None
    features: tuple[str, ...] = ()
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef_high: np.ndarray = field(default_factory=lambda: np.zeros(0))
    feature_scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dropped_features: tuple[str, ...] = ()

    def rank(self) -> np.ndarray:
        """Ordinal rank by rating: 1 + number of models rated strictly higher."""
        return rank_by(self.ratings)

    def rank_ub(self) -> np.ndarray:
        """Rank(UB): 1 + number of models whose lower bound is above this model's upper bound."""
        return rank_upper_bound(self.ci_low, self.ci_high)

    def as_dict(self) -> dict[str, float]:
        """{model: rating}."""
        return {m: float(r) for m, r in zip(self.models, self.ratings, strict=True)}

    def win_probability(self) -> np.ndarray:
        """Predicted P(row model beats column model), ties counted as half (style features equal)."""
        diff = (self.ratings[:, None] - self.ratings[None, :]) / SCALE
        return 1.0 / (1.0 + np.exp(-diff))

    def rows(self) -> list[dict[str, object]]:
        """One dict per model (model, rating, ci_low, ci_high, rank, rank_ub, votes), best first."""
        rank, rank_ub = self.rank(), self.rank_ub()
        order = np.argsort(-self.ratings, kind="stable")
        return [
            {
                "model": self.models[i],
                "rating": round(float(self.ratings[i]), 2),
                "ci_low": rounded(self.ci_low[i], 2),
                "ci_high": rounded(self.ci_high[i], 2),
                "rank": int(rank[i]),
                "rank_ub": int(rank_ub[i]),
                "votes": int(self.votes[i]),
            }
            for i in order
        ]

    def style_coefficients(self) -> list[dict[str, Any]]:
        """The style coefficients with their intervals (empty for a plain fit)."""
        return [
            {
                "feature": f,
                "coef": round(float(c), 5),
                "ci_low": round(float(lo), 5),
                "ci_high": round(float(hi), 5),
            }
            for f, c, lo, hi in zip(self.features, self.coef, self.coef_low, self.coef_high, strict=True)
        ]


def rounded(value: float, digits: int) -> float | None:
    """`value` rounded, or None when it is infinite (an unbounded interval end) or NaN."""
    v = float(value)
    return round(v, digits) if math.isfinite(v) else None


def rank_by(values: np.ndarray) -> np.ndarray:
    """1 + number of entries strictly greater (ties share the better rank)."""
    s = np.sort(values)
    return 1 + len(values) - np.searchsorted(s, values, side="right")


def rank_upper_bound(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """1 + number of models whose lower bound is strictly above each model's upper bound."""
    s = np.sort(low)
    return 1 + len(low) - np.searchsorted(s, high, side="right")


def contrast(n_models: int, anchor: int | None) -> np.ndarray:
    """Matrix T with T @ theta = theta - mean(theta) (no anchor) or theta - theta[anchor]."""
    t = np.eye(n_models)
    if anchor is None:
        t -= 1.0 / n_models
    else:
        t[:, anchor] -= 1.0
    return t


def anchor_index(models: list[str], anchor: str | None) -> int | None:
    if anchor is None:
        return None
    try:
        return models.index(anchor)
    except ValueError:
        raise RatingError(f"anchor model {anchor!r} is not among the rated models") from None


def to_scale(
    theta: np.ndarray,
    models: list[str],
    *,
    cov_theta: np.ndarray | None = None,
    samples_theta: np.ndarray | None = None,
    model_cov: np.ndarray | None = None,
    anchor: str | None = None,
    anchor_rating: float = CENTER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Map log-odds strengths to points: ratings, ci_low, ci_high, rating covariance, rating samples.

    Without an anchor the mean rating is `anchor_rating` (1000); with one, the anchor sits exactly there
    (its interval has zero width and the others' intervals are for the difference to it). Intervals come
    from the bootstrap percentiles when samples are given, else from the sandwich covariance; when those
    collapse to zero width, from `model_cov` (the inverse information of the strengths).
    """
    k = anchor_index(models, anchor)
    t = contrast(len(models), k)
    ratings = anchor_rating + SCALE * (t @ theta)
    cov = samples = None
    if samples_theta is not None:
        samples = anchor_rating + SCALE * (samples_theta @ t.T)
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
        # On separated data (a model that never lost) resampled fits run off and a percentile interval can
        # miss the estimate itself; widen it to include the estimate (a no-op on well-behaved data).
        low, high = np.minimum(low, ratings), np.maximum(high, ratings)
    elif cov_theta is not None:
        cov = SCALE**2 * (t @ cov_theta @ t.T)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        low, high = ratings - Z95 * se, ratings + Z95 * se
    else:
        return ratings, ratings.copy(), ratings.copy(), None, None
    free = np.arange(len(models)) != (-1 if k is None else k)
    if model_cov is not None and np.any(high[free] - low[free] <= 1e-6):
        # Sandwich and bootstrap need variation in the outcomes: with none in some direction (e.g. only ties)
        # they give a zero-width interval, claiming a certainty no finite sample gives. The model-based
        # (Fisher) covariance does not collapse there: it gives the intervals of such a fit.
        cov = SCALE**2 * (t @ model_cov @ t.T)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        low, high = ratings - Z95 * se, ratings + Z95 * se
    return ratings, low, high, cov, samples


def fitted_ratings(
    table: Any,
    theta: np.ndarray,
    *,
    method: str,
    ci: str,
    n_battles: int,
    cov_theta: np.ndarray | None = None,
    samples_theta: np.ndarray | None = None,
    model_cov: np.ndarray | None = None,
    rounds: int = 0,
    seed: int | None = None,
    anchor: str | None = None,
    anchor_rating: float = CENTER,
    **extra: Any,
) -> Ratings:
    """A fit's strengths on the rating scale, as `Ratings` (shared by the Bradley-Terry and style fits)."""
    ratings, low, high, cov, samples = to_scale(
        theta, table.models, cov_theta=cov_theta, samples_theta=samples_theta, model_cov=model_cov, anchor=anchor,
        anchor_rating=anchor_rating,
    )
    bootstrap = ci == "bootstrap"
    return Ratings(
        models=table.models, ratings=ratings, ci_low=low, ci_high=high, votes=table.votes(), theta=theta,
        method=method, ci=ci, n_battles=n_battles, cov=cov, samples=samples, rounds=rounds if bootstrap else 0,
        seed=seed if bootstrap else None, anchor=anchor, **extra,
    )


def unbounded(r: Ratings) -> Ratings:
    """`r` with intervals (-inf, inf): for a fit the votes do not determine (some group never lost or never won).

    Its estimates are then only held finite by the ridge, and any finite interval around them (the sandwich's
    scores vanish out there, so it is nearly zero-width) would claim a certainty the votes cannot give. An
    anchor keeps its exact, zero-width position (it is a definition, not an estimate).
    """
    low, high = np.full(len(r.models), -np.inf), np.full(len(r.models), np.inf)
    k = anchor_index(r.models, r.anchor)
    if k is not None:
        low[k] = high[k] = r.ratings[k]
    return replace(r, ci_low=low, ci_high=high, cov=None, samples=None)
