"""Synthetic battles from known strengths and style effects (for tests, benchmarks and demos)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassboard.rating.features import normalised_difference
from glassboard.rating.table import A_WINS, B_WINS, BOTHBAD, TIE, BattleTable


@dataclass(frozen=True)
class Truth:
    """The generating parameters: strengths (log-odds, sum zero) and style coefficients on raw differences."""

    models: list[str]
    theta: np.ndarray
    style_coef: np.ndarray
    style_means: np.ndarray


def synthetic_battles(
    n_battles: int,
    n_models: int,
    *,
    seed: int = 0,
    theta: np.ndarray | None = None,
    spread: float = 1.0,
    style_coef: np.ndarray | None = None,
    style_means: np.ndarray | None = None,
    tie_rate: float = 0.15,
    bothbad_share: float = 0.4,
    popularity: np.ndarray | None = None,
) -> tuple[BattleTable, Truth]:
    """Battles whose outcomes follow BT with style: logit P(a beats b) = theta_a - theta_b + d . style_coef.

    d are the normalised differences (a-b)/(a+b+1) of [tokens, headers, lists, bold, emoji]; each model
    draws its counts around `style_means[model]` (tokens log-normal, the rest Poisson). Ties happen with
    probability tie_rate * 4p(1-p) and take half from each side, so E[score of a] = p exactly; a share of
    the ties is labelled both-bad. `popularity` weights how often each model is sampled.
    """
    rng = np.random.default_rng(seed)
    m = n_models
    if theta is None:
        theta = rng.normal(0.0, spread, m)
    theta = np.asarray(theta, dtype=np.float64)
    theta = theta - theta.mean()
    if style_coef is None:
        style_coef = np.zeros(5)
    style_coef = np.asarray(style_coef, dtype=np.float64)
    if style_means is None:
        style_means = np.column_stack(
            [
                np.exp(rng.normal(6.0, 0.35, m)),  # tokens
                rng.gamma(2.0, 1.0, m),  # headers
                rng.gamma(2.0, 2.0, m),  # list items
                rng.gamma(2.0, 1.5, m),  # bold spans
                rng.gamma(0.6, 0.8, m),  # emoji
            ]
        )
    style_means = np.asarray(style_means, dtype=np.float64)
    if popularity is None:
        a = rng.integers(0, m, n_battles, dtype=np.int32)
        b = rng.integers(0, m - 1, n_battles, dtype=np.int32)
        b += b >= a  # uniform over the other models
    else:
        prob = np.asarray(popularity, dtype=np.float64) / np.sum(popularity)
        a = rng.choice(m, size=n_battles, p=prob).astype(np.int32)
        b = rng.choice(m, size=n_battles, p=prob).astype(np.int32)
        same = a == b
        while same.any():  # redraw self-pairs
            b[same] = rng.choice(m, size=int(same.sum()), p=prob)
            same = a == b
    counts = np.empty((n_battles, 2, 5), dtype=np.float32)
    for side, idx in ((0, a), (1, b)):
        mu = style_means[idx]
        counts[:, side, 0] = np.round(np.exp(np.log(mu[:, 0]) + rng.normal(0.0, 0.5, n_battles) - 0.125))
        counts[:, side, 1:] = rng.poisson(mu[:, 1:])
    d = normalised_difference(counts)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b] + d @ style_coef)))
    p_tie = tie_rate * 4.0 * p * (1.0 - p)
    u = rng.random(n_battles)
    outcome = np.where(u < p - p_tie / 2, A_WINS, np.where(u < p + p_tie / 2, TIE, B_WINS)).astype(np.int8)
    tie = outcome == TIE
    outcome[tie & (rng.random(n_battles) < bothbad_share)] = BOTHBAD
    models = [f"model-{i:03d}" for i in range(m)]
    table = BattleTable.from_arrays(models, a, b, outcome, counts, source="<synthetic>")
    return table, Truth(models, theta, style_coef, style_means)
