"""Leaderboard from the stored votes with the rating library, cached by vote count (0 or few votes: a message)."""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

MIN_VOTES = 2  # below this there is nothing to fit


@dataclass
class Board:
    """One computed leaderboard: JSON rows (raw and style-controlled) plus a message when it cannot be computed."""

    votes: int
    rated_votes: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"votes": self.votes, "rated_votes": self.rated_votes, "rows": self.rows, "message": self.message,
                "warnings": self.warnings}

    def widths(self) -> dict[str, float]:
        """95% interval width of each model's raw rating (for the uncertainty sampler)."""
        return {r["model"]: float(r["ci_high"]) - float(r["ci_low"]) for r in self.rows
                if _finite(r.get("ci_high")) and _finite(r.get("ci_low"))}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def compute(battles: list[dict[str, Any]], rounds: int = 100) -> Board:
    """Rate `battles` (LMArena-schema dicts); flagged battles are left out by the rating library."""
    from glassboard.rating.errors import RatingError

    votes = len(battles)
    rated = [b for b in battles if not b.get("flags")]
    board = Board(votes=votes, rated_votes=len(rated))
    if len(rated) < MIN_VOTES:
        board.message = (f"Not enough votes for a leaderboard yet: {len(rated)} usable vote(s)"
                         f"{f' ({votes - len(rated)} flagged)' if votes != len(rated) else ''}. Battle and vote!")
        return board
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            board.rows = _rows(battles, rounds)
        except RatingError as err:
            board.message = f"The leaderboard cannot be computed yet: {err}"
    board.warnings = [str(w.message) for w in caught if "rating" in type(w.message).__name__.lower()]
    return board


def _rows(battles: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """Rows with raw and style-controlled columns side by side.

    Uses the rating library's `leaderboard()` when it provides one; until then it joins the library's own
    `fit_bt` and `fit_style` results (sandwich intervals) by model name.
    """
    try:
        from glassboard.rating.leaderboard import leaderboard  # type: ignore[import-not-found]
    except ImportError:
        leaderboard = None
    if leaderboard is not None:
        return [_clean(dict(row)) for row in leaderboard(battles, connected="largest").rows]
    from glassboard.rating.bt import fit_bt
    from glassboard.rating.errors import RatingError
    from glassboard.rating.style import fit_style

    raw = fit_bt(battles, connected="largest")
    try:
        style_rows = {r["model"]: r for r in fit_style(battles, connected="largest", on_invalid="skip").rows()}
    except RatingError:
        style_rows = {}
    rows = []
    for row in raw.rows():
        style = style_rows.get(row["model"])
        out = dict(row)
        for key in ("rating", "ci_low", "ci_high", "rank", "rank_ub"):
            out[f"style_{key}"] = style[key] if style else None
        out["rank_shift"] = (row["rank_ub"] - style["rank_ub"]) if style else None
        rows.append(_clean(out))
    return rows


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe row: NaN and infinities become None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


class BoardCache:
    """The latest leaderboard, recomputed only when the number of stored votes changed (owned by app.state)."""

    def __init__(self) -> None:
        self._board: Board | None = None
        self._lock = threading.Lock()

    def get(self, vote_count: int, load: Any, rounds: int) -> Board:
        with self._lock:
            if self._board is None or self._board.votes != vote_count:
                battles = list(load())
                self._board = compute(battles, rounds)
            return self._board

    @property
    def latest(self) -> Board | None:
        return self._board
