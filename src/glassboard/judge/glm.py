"""Small logistic regressions (fractional outcomes allowed) and the prompt bootstrap the judge scores share.

Targets in [0, 1] (a tie is 0.5) make this a quasi-likelihood logistic fit; Newton's method on a handful of
columns converges in a few steps. A tiny ridge keeps a separated fit finite (e.g. a judge that always prefers A).
"""

from __future__ import annotations

import hashlib

import numpy as np

RIDGE = 1e-4
Z95 = 1.959963984540054


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, *, ridge: float = RIDGE,
                 steps: int = 50) -> np.ndarray:
    """Coefficients of logit E[y] = x @ beta, by damped Newton (x: rows x columns, y in [0, 1], row weights w)."""
    w = np.ones(len(y)) if w is None else w
    beta = np.zeros(x.shape[1])
    penalty = ridge * np.eye(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        grad = x.T @ (w * (y - p)) - ridge * beta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        beta = beta + np.clip(step, -5, 5)
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def sigmoid(v: float | np.ndarray) -> float | np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def seed_for(base: int, *names: str) -> list[int]:
    """A bootstrap seed of its own per (base seed, names): one model's interval never depends on another's."""
    digest = hashlib.sha256("|".join(names).encode()).digest()
    return [base, int.from_bytes(digest[:8], "big")]


def bootstrap_weights(clusters: np.ndarray, rounds: int, seed: list[int]) -> np.ndarray | None:
    """Row weights of `rounds` cluster-bootstrap resamples (rounds x rows): each cluster (prompt) is drawn with
    replacement, and its rows weigh the number of times it was drawn. None with fewer than two clusters."""
    labels, inverse = np.unique(clusters, return_inverse=True)
    if len(labels) < 2 or rounds < 1:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(labels), np.full(len(labels), 1.0 / len(labels)), size=rounds)
    return draws[:, inverse].astype(np.float64)


def interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """95% percentile interval of bootstrap values (NaN rounds dropped; None when fewer than half are left)."""
    total = len(values)
    values = values[np.isfinite(values)]
    if len(values) < 2 or len(values) < 0.5 * total:
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
