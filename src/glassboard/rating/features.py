"""Style features for contextual BT: normalised count differences, scaled to unit variance."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from glassboard.rating.errors import RatingError, RatingWarning
from glassboard.rating.table import COUNT_NAMES, BattleTable

# Feature name -> column of BattleTable.counts. "length" is the assistant token count.
FEATURES = ("length", "headers", "lists", "bold", "emoji")
_COLUMN = dict(zip(FEATURES, range(len(COUNT_NAMES)), strict=True))
_MIN_VARIANCE = 1e-12


@dataclass(frozen=True)
class StyleMatrix:
    """Per-battle features, model_a's side minus model_b's at unit scale, stored features x battles (`xt`)."""

    xt: np.ndarray
    names: tuple[str, ...]
    scale: np.ndarray
    dropped: tuple[str, ...]

    @property
    def x(self) -> np.ndarray:
        """Battles x features view."""
        return self.xt.T


def normalised_difference(counts: np.ndarray) -> np.ndarray:
    """(a - b) / (a + b + 1) per feature: bounded in (-1, 1), 0 when equal, and the +1 keeps 0-vs-0 at 0."""
    a = counts[:, 0, :].astype(np.float32)
    b = counts[:, 1, :].astype(np.float32)
    # float32 arithmetic: counts are exact in it and the ratio needs no more than 7 digits
    return ((a - b) / (a + b + np.float32(1.0))).astype(np.float64)


def check_features(features: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [f for f in features if f not in _COLUMN]
    if unknown:
        raise RatingError(f"unknown style feature(s) {unknown}; known: {list(FEATURES)}")
    return tuple(dict.fromkeys(features))


def complete_rows(
    table: BattleTable, features: tuple[str, ...], on_invalid: Literal["error", "skip"] = "error"
) -> tuple[BattleTable, tuple[str, ...]]:
    """Drop features unknown for every battle (warning); battles missing a feature that others have are
    an error naming the rows (on_invalid='error') or are left out with a warning (on_invalid='skip')."""
    kept: list[str] = []
    unavailable: list[str] = []
    missing = np.zeros(len(table), dtype=bool)
    unknown = np.isnan(table.counts.sum(axis=1))  # (battles, counts): NaN on either side stays NaN
    for name in check_features(features):
        nan = unknown[:, _COLUMN[name]]
        if nan.all():
            unavailable.append(name)
            continue
        kept.append(name)
        missing |= nan
    if unavailable:
        warnings.warn(
            f"style feature(s) {', '.join(repr(f) for f in unavailable)} unavailable (not in conv_metadata and "
            "no conversations to count them from); style control goes on without them",
            RatingWarning,
            stacklevel=3,
        )
    if missing.any():
        rows = table.rows[missing]
        listed = ", ".join(str(r) for r in rows[:10]) + (f", ... ({len(rows) - 10} more)" if len(rows) > 10 else "")
        msg = (
            f"{table.source}: {len(rows)} battles lack style counts (no conv_metadata counts and no "
            f"conversations) while others have them; rows {listed}"
        )
        if on_invalid == "error":
            raise RatingError(msg + "\n(skip them with --skip-invalid, or rate with --no-style-control)")
        warnings.warn(msg + "; they are left out", RatingWarning, stacklevel=3)
        table = table.subset(~missing)
    return table, tuple(kept)


def style_matrix(table: BattleTable, features: tuple[str, ...], order: np.ndarray | None = None) -> StyleMatrix:
    """The scaled feature matrix for `features` (all known for every battle; see `complete_rows`).

    Each column is divided by its root mean square, i.e. z-scored over both orientations of every battle:
    the mean of an antisymmetric feature is 0 by construction, so swapping model_a and model_b flips the
    row's sign exactly and no spurious first-position effect appears. A feature that does not vary across
    battles carries no information and would make the fit singular: it is dropped with a warning.
    """
    n = len(table) if order is None else len(order)
    if not features:
        return StyleMatrix(np.zeros((0, n)), (), np.zeros(0), ())
    # battles in `order` (one gather of whole rows, cheaper than gathering each feature column later)
    counts = table.counts
    if order is not None:  # np.take on whole 40-byte rows is ~3x faster than fancy indexing here
        counts = np.take(counts.reshape(len(table), -1), order, axis=0).reshape(n, 2, -1)
    xt = np.empty((len(features), n))
    for j, name in enumerate(features):
        col = _COLUMN[name]
        a, b = counts[:, 0, col], counts[:, 1, col]
        # float32 arithmetic: counts are exact in it and the ratio needs no more than 7 digits
        xt[j] = (a - b) / (a + b + np.float32(1.0))
    mean_sq = np.einsum("ij,ij->i", xt, xt) / max(n, 1)
    mean = xt.mean(axis=1)
    keep = mean_sq - mean * mean > _MIN_VARIANCE  # variance
    for name in np.array(features)[~keep]:
        warnings.warn(
            f"style feature '{name}' has zero variance over the {n} battles; dropped from style control",
            RatingWarning,
            stacklevel=3,
        )
    if not keep.all():
        xt = np.ascontiguousarray(xt[keep])
    scale = np.sqrt(mean_sq[keep])
    xt /= scale[:, None]
    names = tuple(f for f, k in zip(features, keep, strict=True) if k)
    dropped = tuple(f for f, k in zip(features, keep, strict=True) if not k)
    return StyleMatrix(xt, names, scale, dropped)
