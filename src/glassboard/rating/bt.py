"""Plain Bradley-Terry: aggregation to pair counts, Newton MLE, sandwich CIs, batched Poisson bootstrap."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.sparse import csr_matrix
from scipy.special import expit

from glassboard.rating.errors import RatingError
from glassboard.rating.identify import determined, determined_models
from glassboard.rating.result import CENTER, Ratings, fitted_ratings, unbounded
from glassboard.rating.table import A_WINS, B_WINS, BOTHBAD, BattleTable, as_table, prepare
from glassboard.rating.threads import blas_threads

# A tiny ridge keeps strengths finite when some model never lost (or never won); at this size it moves a
# well-determined rating by far less than 0.001 points.
RIDGE = 1e-6
REWEIGHT_FLOOR = 50
_CHUNK = 50  # bootstrap rounds per batch (and per random stream: results do not depend on threads)
# A bootstrap round stops when its chord step is below this (log-odds). The chord method contracts about
# tenfold per step here, so the remaining error is near 1e-5 log-odds (0.002 rating points): far below the
# Monte Carlo error of a percentile from 1,000 rounds (several tenths of a point).
BOOT_TOL = 1e-4


@dataclass(frozen=True)
class PairCounts:
    """Battles aggregated per unordered pair lo < hi: counts of [lo wins, tie, hi wins] and a battle weight."""

    n_models: int
    lo: np.ndarray
    hi: np.ndarray
    cells: np.ndarray
    weight: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return self.cells.sum(axis=1)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted score of lo (wins + ties/2) and weighted battle count, per pair."""
        return self.weight * (self.cells[:, 0] + 0.5 * self.cells[:, 1]), self.weight * self.n


def pair_index(a: np.ndarray, b: np.ndarray, n_models: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unordered pairs of each battle: (lo, hi) of every distinct pair and each battle's pair id."""
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    key = lo * n_models + hi
    if n_models * n_models <= 4_000_000:  # dense key space: bincount is much faster than unique
        present = np.bincount(key, minlength=n_models * n_models) > 0
        keys = np.flatnonzero(present)
        pair_of_key = np.cumsum(present) - 1
        row_pair = pair_of_key[key]
    else:
        keys, row_pair = np.unique(key, return_inverse=True)
    return keys // n_models, keys % n_models, row_pair


def outcome_scores(table: BattleTable, bothbad: str) -> tuple[np.ndarray, np.ndarray]:
    """Score of model_a per battle (1, 0.5, 0) and the mask of battles that count."""
    if bothbad not in ("tie", "drop"):
        raise RatingError(f"bothbad must be 'tie' or 'drop', not {bothbad!r}")
    keep = np.ones(len(table), dtype=bool) if bothbad == "tie" else table.outcome != BOTHBAD
    y = np.where(table.outcome == A_WINS, 1.0, np.where(table.outcome == B_WINS, 0.0, 0.5))
    return y, keep


def pair_weights(row_pair: np.ndarray, n_pairs: int, reweight: bool) -> np.ndarray:
    """Per-pair battle weight: 1, or 1/max(n_pair, 50) so that heavily sampled pairs do not dominate."""
    if not reweight:
        return np.ones(n_pairs)
    return 1.0 / np.maximum(np.bincount(row_pair, minlength=n_pairs), REWEIGHT_FLOOR)


def aggregate(table: BattleTable, *, bothbad: str = "tie", reweight: bool = False) -> PairCounts:
    """Sufficient statistics of plain BT: per unordered pair, counts of lo-wins, ties and hi-wins."""
    y, keep = outcome_scores(table, bothbad)
    a, b, y = table.a[keep], table.b[keep], y[keep]
    m = table.n_models
    lo, hi, row_pair = pair_index(a, b, m)
    y_lo = np.where(a < b, y, 1.0 - y)  # score from the lower-indexed model's side
    col = np.where(y_lo == 1.0, 0, np.where(y_lo == 0.5, 1, 2))
    cells = np.bincount(row_pair * 3 + col, minlength=3 * len(lo)).reshape(-1, 3).astype(np.float64)
    return PairCounts(m, lo, hi, cells, pair_weights(row_pair, len(lo), reweight))


# -------------------------------------------------------------------------------------------- numerics
def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + e^-z), in place when out is z: about twice as fast as scipy's expit on large arrays."""
    out = np.negative(z, out=out)
    with np.errstate(over="ignore"):  # e^-z = inf for z << 0 gives exactly 0, as it should
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def laplacian(lo: np.ndarray, hi: np.ndarray, v: np.ndarray, m: int) -> np.ndarray:
    """sum_p v_p (e_lo - e_hi)(e_lo - e_hi)^T as a dense m x m matrix."""
    off = np.bincount(lo * m + hi, weights=v, minlength=m * m).reshape(m, m)
    mat = -(off + off.T)
    mat[np.diag_indices(m)] += np.bincount(lo, weights=v, minlength=m) + np.bincount(hi, weights=v, minlength=m)
    return mat


def augment(h: np.ndarray, m: int) -> np.ndarray:
    """Add a multiple of 11^T to the strength block: the likelihood is flat along 1 (a common shift), and
    every gradient is orthogonal to it, so this only fixes the conditioning of the solves."""
    h = h.copy()
    h[:m, :m] += np.trace(h[:m, :m]) / (m * m)
    return h


def incidence(lo: np.ndarray, hi: np.ndarray, m: int) -> csr_matrix:
    """Sparse (pairs x models) matrix with +1 at lo and -1 at hi."""
    p = len(lo)
    rows = np.repeat(np.arange(p), 2)
    cols = np.column_stack([lo, hi]).ravel()
    vals = np.tile([1.0, -1.0], p)
    return csr_matrix((vals, (rows, cols)), shape=(p, m))


def fit_pairs(
    lo: np.ndarray,
    hi: np.ndarray,
    score: np.ndarray,
    count: np.ndarray,
    m: int,
    *,
    ridge: float = RIDGE,
    theta0: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Penalised BT MLE from pair statistics by damped Newton; returns (theta, augmented Hessian)."""
    theta = np.zeros(m) if theta0 is None else theta0 - theta0.mean()

    def objective(t: np.ndarray) -> float:
        d = t[lo] - t[hi]
        return float(score @ d - count @ np.logaddexp(0.0, d) - 0.5 * ridge * t @ t)

    f = objective(theta)
    for _ in range(max_iter):
        d = theta[lo] - theta[hi]
        p = expit(d)
        r = score - count * p
        grad = np.bincount(lo, weights=r, minlength=m) - np.bincount(hi, weights=r, minlength=m) - ridge * theta
        hess = laplacian(lo, hi, count * p * (1.0 - p), m)
        hess[np.diag_indices(m)] += ridge
        step = cho_solve(cho_factor(augment(hess, m)), grad)
        # Backtracking keeps the far-out fits (a model that never lost) monotone.
        t = 1.0
        while True:
            cand = theta + t * step
            fc = objective(cand)
            if fc >= f - 1e-12 * abs(f) or t < 1e-8:
                break
            t *= 0.5
        theta, f = cand, fc
        if np.max(np.abs(t * step)) < tol:
            break
    d = theta[lo] - theta[hi]
    p = expit(d)
    hess = laplacian(lo, hi, count * p * (1.0 - p), m)
    hess[np.diag_indices(m)] += ridge
    return theta, augment(hess, m)


def sandwich(pc: PairCounts, theta: np.ndarray, hess_aug: np.ndarray) -> np.ndarray:
    """Robust covariance H^-1 J H^-1 of theta, J the sum of per-battle score outer products."""
    p = expit(theta[pc.lo] - theta[pc.hi])
    sq = pc.cells[:, 0] * (1.0 - p) ** 2 + pc.cells[:, 1] * (0.5 - p) ** 2 + pc.cells[:, 2] * p**2
    j = laplacian(pc.lo, pc.hi, pc.weight**2 * sq, pc.n_models)
    h_inv = cho_solve(cho_factor(hess_aug), np.eye(pc.n_models))
    return h_inv @ j @ h_inv


def bootstrap(
    pc: PairCounts,
    theta: np.ndarray,
    hess_aug: np.ndarray,
    *,
    rounds: int,
    seed: int | None,
    ridge: float = RIDGE,
    threads: int | None = None,
) -> np.ndarray:
    """Bootstrap strengths (rounds x models) by resampling the aggregated outcome counts.

    Each round redraws every (pair, outcome) count as Poisson(observed count): given their total these are
    exactly the multinomial resample of all battles, and BT does not depend on the total. All rounds of a
    batch are fitted together by Newton iterations with the full-data Hessian (a chord method, warm-started
    at the full-data fit); a round that has not converged after 30 iterations is refitted exactly.
    """
    from glassboard.rating.sampling import PoissonSampler

    m = pc.n_models
    sampler = PoissonSampler(pc.cells.ravel())
    inc = incidence(pc.lo, pc.hi, m)  # pairs x models
    inc_t = inc.T.tocsr()
    factor = cho_factor(hess_aug)
    w = pc.weight[:, None]
    weighted = bool(np.any(pc.weight != 1.0))
    seeds = np.random.SeedSequence(seed).spawn((rounds + _CHUNK - 1) // _CHUNK)

    def run(chunk: int) -> np.ndarray:
        r = min(_CHUNK, rounds - chunk * _CHUNK)
        rng = np.random.default_rng(seeds[chunk])
        cells = sampler.draw(rng, r).reshape(-1, 3, r)  # (pairs, [lo wins, tie, hi wins], rounds)
        # float32 sums of counts (and halves) are exact; float64 from here on
        score = (cells[:, 0] + np.float32(0.5) * cells[:, 1]).astype(np.float64)
        count = (cells[:, 0] + cells[:, 1] + cells[:, 2]).astype(np.float64)
        if weighted:
            score *= w
            count *= w
        th = np.repeat(theta[:, None], r, axis=1)  # models x rounds
        done = np.zeros(r, dtype=bool)
        for _ in range(30):
            d = inc @ th
            np.negative(d, out=d)
            with np.errstate(over="ignore"):
                np.exp(d, out=d)
            d += 1.0
            np.divide(count, d, out=d)  # expected score: count * sigmoid(theta_lo - theta_hi)
            np.subtract(score, d, out=d)
            step = cho_solve(factor, inc_t @ d - ridge * th)
            th += step
            done = np.max(np.abs(step), axis=0) < BOOT_TOL
            if done.all():
                break
        for i in np.flatnonzero(~done):
            th[:, i] = fit_pairs(pc.lo, pc.hi, score[:, i], count[:, i], m, ridge=ridge, theta0=th[:, i])[0]
        return th.T

    n_chunks = len(seeds)
    workers = min(threads or os.cpu_count() or 1, n_chunks)
    with blas_threads(1):
        if workers <= 1:
            parts = [run(c) for c in range(n_chunks)]
        else:  # numpy releases the GIL in the heavy loops: batches run on all cores
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(run, range(n_chunks)))
    return np.vstack(parts)


# ----------------------------------------------------------------------------------------- public API
def fit_bt(
    battles: Any,
    *,
    ci: Literal["sandwich", "bootstrap", "none"] = "sandwich",
    rounds: int = 1000,
    seed: int | None = 0,
    bothbad: Literal["tie", "drop"] = "tie",
    reweight: bool = False,
    anchor: str | None = None,
    anchor_rating: float = CENTER,
    connected: Literal["error", "largest"] = "error",
    ridge: float = RIDGE,
    threads: int | None = None,
    **filters: Any,
) -> Ratings:
    """Bradley-Terry ratings with 95% intervals; ties (and by default both-bad) count as half a win each.

    `battles` is a path (.jsonl/.json/.parquet), a BattleTable, or an iterable of Battle records / dicts;
    `filters` (category, language, include_flagged, on_invalid) apply when reading. `threads` caps the
    worker threads of the bootstrap (default: one per CPU).
    """
    check_ci(ci, rounds)
    with blas_threads(1):
        table = prepare(as_table(battles, with_style=False, **filters), connected=connected)
        return fit_bt_table(
            table, ci=ci, rounds=rounds, seed=seed, bothbad=bothbad, reweight=reweight, anchor=anchor,
            anchor_rating=anchor_rating, ridge=ridge, threads=threads,
        )  # fmt: skip


def check_ci(ci: str, rounds: int) -> None:
    if ci not in ("sandwich", "bootstrap", "none"):
        raise RatingError(f"ci must be 'sandwich', 'bootstrap' or 'none', not {ci!r}")
    if ci == "bootstrap" and (not isinstance(rounds, int) or rounds < 2):
        raise RatingError(f"bootstrap needs at least 2 rounds, not {rounds!r}")


def fit_bt_table(
    table: BattleTable,
    *,
    ci: str = "sandwich",
    rounds: int = 1000,
    seed: int | None = 0,
    bothbad: str = "tie",
    reweight: bool = False,
    anchor: str | None = None,
    anchor_rating: float = CENTER,
    ridge: float = RIDGE,
    threads: int | None = None,
) -> Ratings:
    """`fit_bt` on a prepared table (see `table.prepare`)."""
    pc = aggregate(table, bothbad=bothbad, reweight=reweight)
    if len(pc.lo) == 0 or pc.n.sum() == 0:
        raise RatingError(f"{table.source}: no battles left to rate (all were both-bad and dropped)")
    score, count = pc.stats()
    theta, hess = fit_pairs(pc.lo, pc.hi, score, count, table.n_models, ridge=ridge)
    cov_t = samples_t = None
    if ci == "sandwich":
        cov_t = sandwich(pc, theta, hess)
    elif ci == "bootstrap":
        samples_t = bootstrap(pc, theta, hess, rounds=rounds, seed=seed, ridge=ridge, threads=threads)
    model_cov = cho_solve(cho_factor(hess), np.eye(table.n_models)) if ci != "none" else None
    fitted = fitted_ratings(table, theta, method="bt", ci=ci, n_battles=int(pc.n.sum()), cov_theta=cov_t,
                            samples_theta=samples_t, model_cov=model_cov, rounds=rounds, seed=seed, anchor=anchor,
                            anchor_rating=anchor_rating)
    if ci == "none":
        return fitted
    _, keep = outcome_scores(table, bothbad)
    core = determined_models(table.a[keep], table.b[keep], table.outcome[keep], table.n_models)
    if core.all():
        return fitted
    k = None if anchor is None else table.models.index(anchor)
    if core.sum() < 2 or (k is not None and not core[k]):
        return unbounded(fitted)  # no two models (or not the anchor) have a determined distance: nothing is known
    inner = fit_bt_table(table.subset(core[table.a] & core[table.b]), ci=ci, rounds=rounds, seed=seed,
                         bothbad=bothbad, reweight=reweight, anchor=anchor, anchor_rating=anchor_rating, ridge=ridge,
                         threads=threads)
    return on_core_scale(fitted, inner, core)


def on_core_scale(full: Ratings, inner: Ratings, core: np.ndarray) -> Ratings:
    """`full` re-centred on the determined models (`core`, fitted alone as `inner`): they get `inner`'s ratings and
    intervals (mean 1000 over them, or the anchor's position), the others their full-fit rating moved by the same
    shift and an unbounded interval. Battles between the core and the rest do not move the core's estimate (in the
    limit the likelihood gives them probability 1), so `inner` is the core's part of the maximum-likelihood fit."""
    idx = np.flatnonzero(core)
    shift = float(np.mean(inner.ratings) - np.mean(full.ratings[idx]))
    ratings = full.ratings + shift
    ratings[idx] = inner.ratings
    low, high = np.full(len(full.models), -np.inf), np.full(len(full.models), np.inf)
    low[idx], high[idx] = inner.ci_low, inner.ci_high
    return replace(full, ratings=ratings, ci_low=low, ci_high=high, cov=None, samples=None)


def votes_determine(table: BattleTable, bothbad: str) -> bool:
    """True when the BT estimate of the battles that count (both-bad dropped or not) is finite."""
    _, keep = outcome_scores(table, bothbad)
    return determined(table.a[keep], table.b[keep], table.outcome[keep], table.n_models)
