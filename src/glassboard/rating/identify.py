"""Whether the votes determine a fit at all: the honest answer for tiny or separated samples.

A Bradley-Terry fit has a finite maximum-likelihood estimate only when the "beat or tied" graph is strongly
connected; otherwise some rating difference runs off to infinity, the tiny ridge stops it at an arbitrary
far-out value, and the sandwich (whose scores vanish there) reports an interval of almost zero width around that
arbitrary value. The style-controlled fit adds that its design (model contrasts plus style features) must have full
column rank (enough battles, features not collinear with model identity) and that no direction of it separates the
wins from the losses. This module answers both questions; the fits decide what to report (docs/rating.md, §3).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from glassboard.schema import A_WINS, B_WINS

# The separation check is a linear programme over the battles; above this many it is skipped (the rank check and
# the raw-graph check still run). Separation by style features alone in that many battles has not been seen.
LP_MAX_ROWS = 20_000
RANK_TOL = 1e-9


def result_graph(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int) -> csr_matrix:
    """Sparse graph with an edge i -> j when i beat or tied j at least once (built from distinct pairs)."""
    m = n_models
    key = a.astype(np.int64) * m + b
    a_side = (outcome != B_WINS).astype(np.float64)  # model_a beat or tied model_b
    b_side = (outcome != A_WINS).astype(np.float64)
    if m * m <= 4_000_000:  # dense key space: bincount, much faster than unique
        fwd = np.flatnonzero(np.bincount(key, weights=a_side, minlength=m * m))
        bwd = np.flatnonzero(np.bincount(key, weights=b_side, minlength=m * m))
    else:
        fwd, bwd = np.unique(key[a_side > 0]), np.unique(key[b_side > 0])
    src = np.concatenate([fwd // m, bwd % m])
    dst = np.concatenate([fwd % m, bwd // m])
    return csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(m, m))


def determined(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int) -> bool:
    """True when the plain BT estimate is finite: every model both beat (or tied) and lost to (or tied) its way
    around the graph, i.e. the "beat or tied" graph is strongly connected."""
    n_parts, _ = connected_components(result_graph(a, b, outcome, n_models), directed=True, connection="strong")
    return bool(n_parts == 1)


def determined_models(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int) -> np.ndarray:
    """Mask of the models whose ratings relative to each other the votes determine: the largest strongly connected
    part of the "beat or tied" graph (the first such part when several are equally large). Every other model never
    lost, or never won, against some group, so its distance to these is unbounded. All true when determined()."""
    _, labels = connected_components(result_graph(a, b, outcome, n_models), directed=True, connection="strong")
    return np.asarray(labels == np.argmax(np.bincount(labels)))


def rank_deficient(gram: np.ndarray) -> bool:
    """True when the (augmented, positive semi-definite) Gram matrix of a design is numerically singular."""
    eig = np.linalg.eigvalsh(gram)
    return bool(eig[0] <= RANK_TOL * max(float(eig[-1]), 1e-300))


def separated(lo: np.ndarray, hi: np.ndarray, sizes: np.ndarray, y: np.ndarray, xt: np.ndarray, m: int) -> bool:
    """True when some direction d of (strengths, style coefficients) never lowers the likelihood of any battle
    and raises it for one: then the estimate runs off along d (the MLE is infinite).

    Rows are in the style problem's layout: y the score of `lo`, `xt` (features x rows) lo's features minus hi's.
    Solved as a linear programme: maximise the sum of s_i z_i.d subject to s_i z_i.d >= 0 for decided battles
    (s = +1 if lo won, -1 if it lost), z_i.d = 0 for ties, |d| <= 1 and the strengths summing to zero.
    """
    n, k = len(y), xt.shape[0]
    rows = np.arange(n)
    pair = np.repeat(np.arange(len(lo)), sizes)
    z = np.zeros((n, m + k))
    z[rows, lo[pair]] = 1.0
    z[rows, hi[pair]] = -1.0
    z[:, m:] = xt.T
    sign = np.where(y == 1.0, 1.0, np.where(y == 0.0, -1.0, 0.0))
    decided = sign != 0
    if not decided.any():
        return False
    sz = z[decided] * sign[decided, None]
    a_eq = np.vstack([z[~decided], np.concatenate([np.ones(m), np.zeros(k)])[None, :]])
    res = linprog(
        -sz.sum(axis=0), A_ub=-sz, b_ub=np.zeros(len(sz)), A_eq=a_eq, b_eq=np.zeros(len(a_eq)),
        bounds=(-1.0, 1.0), method="highs",
    )  # fmt: skip
    return bool(res.status == 0 and -res.fun > 1e-7)
