"""Contextual Bradley-Terry (style control): Newton on row data with blockwise Hessian, sandwich, bootstrap."""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from glassboard.rating.bt import (
    BOOT_TOL,
    RIDGE,
    aggregate,
    augment,
    check_ci,
    fit_pairs,
    laplacian,
    outcome_scores,
    pair_index,
    pair_weights,
    sigmoid,
    votes_determine,
)
from glassboard.rating.errors import RatingError, RatingWarning, StyleNotIdentified
from glassboard.rating.features import FEATURES, StyleMatrix, check_features, complete_rows, style_matrix
from glassboard.rating.identify import LP_MAX_ROWS, rank_deficient, separated
from glassboard.rating.result import CENTER, Z95, Ratings, fitted_ratings
from glassboard.rating.table import BattleTable, as_table, prepare
from glassboard.rating.threads import blas_threads


@dataclass(frozen=True)
class StyleProblem:
    """Rows in canonical orientation (lo < hi), sorted by pair so that per-pair sums are `reduceat` calls.

    `starts`/`sizes` delimit each pair's rows; `y` is the score of lo, `xt` (features x rows) the features
    of lo minus hi, `w` the row weights.
    """

    m: int
    lo: np.ndarray
    hi: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    y: np.ndarray
    xt: np.ndarray
    w: np.ndarray

    @property
    def k(self) -> int:
        return self.xt.shape[0]

    def with_weights(self, w: np.ndarray) -> StyleProblem:
        return StyleProblem(self.m, self.lo, self.hi, self.starts, self.sizes, self.y, self.xt, w)


def build_problem(
    table: BattleTable, features: tuple[str, ...], *, bothbad: str, reweight: bool
) -> tuple[StyleProblem, StyleMatrix]:
    """The rows of a style-control fit, sorted by pair, and the feature metadata (names, scale, dropped)."""
    y_all, keep = outcome_scores(table, bothbad)
    rows = None if keep.all() else np.flatnonzero(keep)
    a = table.a if rows is None else table.a[rows]
    b = table.b if rows is None else table.b[rows]
    lo, hi, row_pair = pair_index(a, b, table.n_models)
    # Sorting rows by pair turns every per-pair sum into one contiguous reduceat (radix sort when it fits).
    key = row_pair.astype(np.uint16) if len(lo) <= 65_535 else row_pair
    src = np.argsort(key, kind="stable")
    if rows is not None:
        src = rows[src]
    sm = style_matrix(table, features, order=src)
    flip = table.a[src] > table.b[src]
    y = y_all[src]
    y[flip] = 1.0 - y[flip]
    xt = sm.xt  # freshly built for this problem: flipped in place
    xt *= np.where(flip, -1.0, 1.0)  # the features are antisymmetric: swap sides, flip sign
    sizes = np.bincount(row_pair, minlength=len(lo))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    w = np.repeat(pair_weights(row_pair, len(lo), reweight), sizes)
    return StyleProblem(table.n_models, lo, hi, starts, sizes, y, xt, w), sm


def _linear(pb: StyleProblem, theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
    z = np.repeat(theta[pb.lo] - theta[pb.hi], pb.sizes)
    if pb.k:
        z += beta @ pb.xt
    return z


def _to_models(pb: StyleProblem, per_pair: np.ndarray) -> np.ndarray:
    """B^T v: per-pair values summed onto models, + at lo and - at hi."""
    return np.bincount(pb.lo, weights=per_pair, minlength=pb.m) - np.bincount(pb.hi, weights=per_pair, minlength=pb.m)


def _gradient(pb: StyleProblem, r: np.ndarray) -> np.ndarray:
    """Gradient of the log-likelihood for row residuals r = weight * (y - p): [theta block, beta block]."""
    return np.concatenate([_to_models(pb, np.add.reduceat(r, pb.starts)), pb.xt @ r])


def _outer(pb: StyleProblem, v: np.ndarray, work: np.ndarray | None = None) -> np.ndarray:
    """sum_rows v_i z_i z_i^T for z_i = (e_lo - e_hi, x_i), built blockwise without a dense design matrix.

    `work` is an optional (1 + k, rows) scratch buffer: reusing it avoids faulting in fresh pages for every
    call, which on some kernels costs more than the arithmetic.
    """
    m, k = pb.m, pb.k
    vx = np.empty((k + 1, len(v))) if work is None else work
    vx[0] = v
    np.multiply(pb.xt, v, out=vx[1:])
    per_pair = np.add.reduceat(vx, pb.starts, axis=1)  # (1 + k, pairs)
    out = np.empty((m + k, m + k))
    out[:m, :m] = laplacian(pb.lo, pb.hi, per_pair[0], m)
    for j in range(k):
        out[:m, m + j] = _to_models(pb, per_pair[1 + j])
    out[m:, :m] = out[:m, m:].T
    out[m:, m:] = vx[1:] @ pb.xt.T
    return out


def split(pb: StyleProblem, parts: int) -> list[StyleProblem]:
    """Cut the rows into `parts` contiguous blocks at pair boundaries (views, no copies)."""
    n = len(pb.y)
    cuts = np.searchsorted(pb.starts, np.linspace(0, n, parts + 1)[1:-1])
    bounds = [0, *sorted(set(int(c) for c in cuts if 0 < c < len(pb.lo))), len(pb.lo)]
    out = []
    for p0, p1 in zip(bounds[:-1], bounds[1:], strict=True):
        r0 = int(pb.starts[p0])
        r1 = int(pb.starts[p1]) if p1 < len(pb.lo) else n
        out.append(
            StyleProblem(
                pb.m,
                pb.lo[p0:p1],
                pb.hi[p0:p1],
                pb.starts[p0:p1] - r0,
                pb.sizes[p0:p1],
                pb.y[r0:r1],
                pb.xt[:, r0:r1],
                pb.w[r0:r1],
            )  # fmt: skip
        )
    return out


def _evaluate(
    pb: StyleProblem, params: np.ndarray, work: np.ndarray, level: int
) -> tuple[float, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One block of rows at `params`: log-likelihood and gradient; with level >= 1 the information
    (Hessian), with level 2 also J = sum of squared-score outer products (for the sandwich)."""
    m = pb.m
    z = _linear(pb, params[:m], params[m:])
    p = sigmoid(z, out=np.empty_like(z))
    # y z - log(1 + e^z) = (y - 1) z + log p, reusing p instead of a separate log1p(exp) pass
    f = float(pb.w @ ((pb.y - 1.0) * z + np.log(p)))
    resid = pb.w * (pb.y - p)
    grad = _gradient(pb, resid)
    hess = _outer(pb, pb.w * p * (1.0 - p), work) if level >= 1 else None
    score_outer = _outer(pb, resid * resid, work) if level >= 2 else None
    return f, grad, hess, score_outer


class _Blocks:
    """Row blocks evaluated in parallel threads (numpy releases the GIL in the row-level loops)."""

    def __init__(self, pb: StyleProblem, threads: int | None) -> None:
        workers = max(1, min(threads or os.cpu_count() or 1, len(pb.y) // 200_000))
        self.parts = split(pb, workers) if workers > 1 else [pb]
        self.work = [np.empty((pb.k + 1, len(part.y))) for part in self.parts]
        self.pool = ThreadPoolExecutor(len(self.parts)) if len(self.parts) > 1 else None

    def __call__(self, params: np.ndarray, level: int) -> tuple[float, np.ndarray, Any, Any]:
        jobs = zip(self.parts, self.work, strict=True)
        if self.pool is None:
            results = [_evaluate(part, params, work, level) for part, work in jobs]
        else:
            results = list(self.pool.map(lambda a: _evaluate(a[0], params, a[1], level), jobs))
        f = sum(r[0] for r in results)
        grad = np.sum([r[1] for r in results], axis=0)
        hess = np.sum([r[2] for r in results if r[2] is not None], axis=0) if level >= 1 else None
        score_outer = np.sum([r[3] for r in results if r[3] is not None], axis=0) if level >= 2 else None
        return f, grad, hess, score_outer

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


@dataclass(frozen=True)
class ContextualFit:
    """Strengths, style coefficients, the augmented Hessian and J (both at the optimum)."""

    theta: np.ndarray
    beta: np.ndarray
    hess: np.ndarray
    score_outer: np.ndarray

    def sandwich(self) -> np.ndarray:
        """Robust covariance H^-1 J H^-1 of (theta, beta)."""
        h_inv = cho_solve(cho_factor(self.hess), np.eye(len(self.hess)))
        return h_inv @ self.score_outer @ h_inv


def fit_contextual(
    pb: StyleProblem,
    theta0: np.ndarray,
    *,
    ridge: float = RIDGE,
    tol: float = 1e-7,
    max_iter: int = 100,
    threads: int | None = None,
) -> ContextualFit:
    """Penalised contextual BT MLE by damped Newton.

    The Hessian is rebuilt only while steps are large; near the optimum the last factorisation is reused
    (each step then costs one pass over the rows for z, p and the gradient), which converges just as surely.
    A last pass at the optimum gives the exact Hessian and J for the intervals.
    """
    m, k = pb.m, pb.k
    params = np.concatenate([theta0 - theta0.mean(), np.zeros(k)])
    step = np.zeros(m + k)
    blocks = _Blocks(pb, threads)
    factor = None
    f_old, t, big = -np.inf, 1.0, True
    try:
        for _ in range(max_iter):
            f, grad, hess, _ = blocks(params, 1 if big or factor is None else 0)
            f -= 0.5 * ridge * params @ params
            if f < f_old - 1e-12 * abs(f_old) and t > 1e-8:
                t *= 0.5  # the last step went too far (only far from the optimum): halve it, re-evaluate
                params -= t * step
                big = True
                continue
            if t * np.max(np.abs(step), initial=0.0) < tol and np.isfinite(f_old):
                break
            f_old = f
            if hess is not None:
                hess = augment(hess, m)
                hess[np.diag_indices(m + k)] += ridge
                factor = cho_factor(hess)
            step = cho_solve(factor, grad - ridge * params)
            big = bool(np.max(np.abs(step)) > 0.02)
            t = 1.0
            params = params + step
        _, _, hess, score_outer = blocks(params, 2)
    finally:
        blocks.close()
    hess = augment(hess, m)
    hess[np.diag_indices(m + k)] += ridge
    return ContextualFit(params[:m], params[m:], hess, score_outer)


def bootstrap_style(
    pb: StyleProblem,
    theta: np.ndarray,
    beta: np.ndarray,
    hess_aug: np.ndarray,
    *,
    rounds: int,
    seed: int | None,
    ridge: float = RIDGE,
    threads: int | None = None,
) -> np.ndarray:
    """Bootstrap (rounds x (models + features)) by resampling battles (rows).

    A round's resample is a vector of multinomial row counts (bincount of n uniform row draws), used as
    weights, so the arrays are never copied. Each round starts at the full-data fit and iterates with the
    full-data Hessian (chord method); one that has not converged after 25 iterations is refitted by Newton.
    """
    m, n = pb.m, len(pb.y)
    factor = cho_factor(hess_aug)
    start = np.concatenate([theta, beta])
    seeds = np.random.SeedSequence(seed).spawn(rounds)

    def run(i: int) -> np.ndarray:
        rng = np.random.default_rng(seeds[i])
        c = np.bincount(rng.integers(0, n, n), minlength=n) * pb.w
        par = start.copy()
        for _ in range(25):
            z = _linear(pb, par[:m], par[m:])
            p = sigmoid(z, out=z)
            np.subtract(pb.y, p, out=p)
            p *= c
            step = cho_solve(factor, _gradient(pb, p) - ridge * par)
            par += step
            if np.max(np.abs(step)) < BOOT_TOL:
                return par
        refit = fit_contextual(pb.with_weights(c), par[:m], ridge=ridge, threads=1)
        return np.concatenate([refit.theta, refit.beta])

    workers = min(threads or os.cpu_count() or 1, rounds)
    with blas_threads(1):
        if workers <= 1:
            return np.vstack([run(i) for i in range(rounds)])
        with ThreadPoolExecutor(workers) as pool:  # numpy releases the GIL in its loops
            return np.vstack(list(pool.map(run, range(rounds))))


def fit_style(
    battles: Any,
    *,
    features: tuple[str, ...] | list[str] = FEATURES,
    ci: Literal["sandwich", "bootstrap", "none"] = "sandwich",
    rounds: int = 100,
    seed: int | None = 0,
    bothbad: Literal["tie", "drop"] = "tie",
    reweight: bool = False,
    anchor: str | None = None,
    anchor_rating: float = CENTER,
    connected: Literal["error", "largest"] = "error",
    ridge: float = RIDGE,
    threads: int | None = None,
    on_invalid: Literal["error", "skip"] = "error",
    **filters: Any,
) -> Ratings:
    """Style-controlled BT: logit P(a beats b) = theta_a - theta_b + sum_k beta_k x_k, x the scaled
    normalised differences of length, headers, lists, bold and emoji. Ratings are the theta part."""
    check_ci(ci, rounds)
    features = check_features(features)
    with blas_threads(1):
        table = as_table(battles, on_invalid=on_invalid, **filters)
        table, usable = complete_rows(table, features, on_invalid)
        table = prepare(table, connected=connected)
        return fit_style_table(
            table, usable, ci=ci, rounds=rounds, seed=seed, bothbad=bothbad, reweight=reweight, anchor=anchor,
            anchor_rating=anchor_rating, ridge=ridge, threads=threads,
        )  # fmt: skip


def identification_issue(table: BattleTable, pb: StyleProblem, bothbad: str) -> str | None:
    """Why the votes do not determine the style-controlled fit, or None when they do (see rating/identify.py)."""
    m, k = pb.m, pb.k
    if not votes_determine(table, bothbad):
        return "some model never lost, or never won, against a group of the others"
    if rank_deficient(augment(_outer(pb, np.ones(len(pb.y))), m)):
        return (
            f"{m - 1 + k} unknowns ({m - 1} model strength(s) and {k} style coefficient(s)) are not all pinned down "
            "(too few battles, or a style feature that moves in step with model identity)"
        )
    if len(pb.y) <= LP_MAX_ROWS and separated(pb.lo, pb.hi, pb.sizes, pb.y, pb.xt, m):
        return "a combination of model strengths and style features separates every win from every loss"
    return None


def fit_style_table(
    table: BattleTable,
    features: tuple[str, ...],
    *,
    ci: str,
    rounds: int,
    seed: int | None,
    bothbad: str,
    reweight: bool,
    anchor: str | None,
    anchor_rating: float,
    ridge: float = RIDGE,
    threads: int | None = None,
) -> Ratings:
    """`fit_style` on a prepared table whose battles all have the given features."""
    pb, sm = build_problem(table, features, bothbad=bothbad, reweight=reweight)
    if not sm.names:
        warnings.warn("no style feature is left: the style-controlled rating equals the raw one", RatingWarning, 2)
    if len(pb.y) == 0:
        raise RatingError(f"{table.source}: no battles left to rate (all were both-bad and dropped)")
    issue = identification_issue(table, pb, bothbad)
    if issue is not None:
        raise StyleNotIdentified(
            f"{table.source}: the style-controlled rating is not determined by these {len(pb.y)} battles: {issue}"
        )
    # Warm start from plain BT on aggregated counts (cheap), then Newton on the rows.
    pc = aggregate(table, bothbad=bothbad, reweight=reweight)
    score, count = pc.stats()
    theta0, _ = fit_pairs(pc.lo, pc.hi, score, count, table.n_models, ridge=ridge, tol=1e-4)
    fit = fit_contextual(pb, theta0, ridge=ridge, threads=threads)
    theta, beta, hess = fit.theta, fit.beta, fit.hess
    m, k = table.n_models, pb.k
    cov_t = samples_t = None
    if ci == "sandwich":
        cov = fit.sandwich()
        cov_t = cov[:m, :m]
        se_b = np.sqrt(np.clip(np.diag(cov)[m:], 0.0, None))
        coef_low, coef_high = beta - Z95 * se_b, beta + Z95 * se_b
    elif ci == "bootstrap":
        boot = bootstrap_style(pb, theta, beta, hess, rounds=rounds, seed=seed, ridge=ridge, threads=threads)
        samples_t = boot[:, :m]
        coef_low, coef_high = np.percentile(boot[:, m:], [2.5, 97.5], axis=0).reshape(2, k)
        coef_low, coef_high = np.minimum(coef_low, beta), np.maximum(coef_high, beta)
    else:
        coef_low, coef_high = beta.copy(), beta.copy()
    model_cov = None
    if ci != "none":
        model_cov = cho_solve(cho_factor(hess), np.eye(m + k))
        se_model = np.sqrt(np.clip(np.diag(model_cov)[m:], 0.0, None))
        # as for the strengths (result.to_scale): a collapsed sandwich or bootstrap gives way to the information
        collapsed = coef_high - coef_low <= 1e-9
        coef_low = np.where(collapsed, beta - Z95 * se_model, coef_low)
        coef_high = np.where(collapsed, beta + Z95 * se_model, coef_high)
        model_cov = model_cov[:m, :m]
    return fitted_ratings(
        table, theta, method="style", ci=ci, n_battles=len(pb.y), cov_theta=cov_t, samples_theta=samples_t,
        model_cov=model_cov,
        rounds=rounds, seed=seed, anchor=anchor, anchor_rating=anchor_rating, features=sm.names, coef=beta,
        coef_low=coef_low, coef_high=coef_high, feature_scale=sm.scale, dropped_features=sm.dropped,
    )
