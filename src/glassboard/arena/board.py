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
    defence: dict[str, Any] | None = None  # the defended board and its exclusion counts (see defence.py)

    def as_json(self) -> dict[str, Any]:
        return {"votes": self.votes, "rated_votes": self.rated_votes, "rows": self.rows, "message": self.message,
                "warnings": self.warnings, "defence": self.defence}


    def widths(self) -> dict[str, float]:
        """95% interval width of each model's raw rating (for the uncertainty sampler)."""
        return {r["model"]: float(r["ci_high"]) - float(r["ci_low"]) for r in self.rows
                if _finite(r.get("ci_high")) and _finite(r.get("ci_low"))}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def compute(battles: list[dict[str, Any]]) -> Board:
    """Rate `battles` (LMArena-schema dicts) with the rating library's `leaderboard` (flagged votes left out).

    Intervals are the library's sandwich (robust) 95% intervals: deterministic and fast enough per page load.
    """
    from glassboard.rating.errors import RatingError
    from glassboard.rating.leaderboard import leaderboard

    votes = len(battles)
    rated = [b for b in battles if not b.get("flags")]
    board = Board(votes=votes, rated_votes=len(rated))
    if len(rated) < MIN_VOTES:
        board.message = (f"Not enough votes for a leaderboard yet: {len(rated)} usable vote(s)"
                         f"{f' ({votes - len(rated)} flagged)' if votes != len(rated) else ''}. Battle and vote!")
        return board
    excluded = _defend(board, rated)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library collects its warnings in `.warnings`
        try:
            # with flagged voters, style control runs on the defended votes only (below), not on these
            result = leaderboard(battles, connected="largest", on_invalid="skip", ci="sandwich",
                                 style_control=not excluded)
        except RatingError as err:
            board.message = f"The leaderboard cannot be computed yet: {err}"
            return board
    board.rows = [_clean(dict(row)) for row in result.rows]
    board.warnings = list(result.warnings)
    return board


# --------------------------------------------------------------------------------- defended board (issue 16)
def _defend(board: Board, rated: list[dict[str, Any]]) -> list[int]:
    """Score the voters of `rated`; when some are flagged, put the board of the other votes (raw and
    style-controlled) in `board.defence`. Returns the indices of the excluded votes."""
    from glassboard.arena.defence import defended_board
    from glassboard.rating.errors import RatingError
    from glassboard.rating.leaderboard import leaderboard

    board.defence, excluded = defended_board(rated, board.votes - board.rated_votes)
    if not excluded:
        return []
    dropped = set(excluded)
    kept = [b for i, b in enumerate(rated) if i not in dropped]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = leaderboard(kept, connected="largest", on_invalid="skip", ci="sandwich")
            board.defence["rows"] = [_clean(dict(row)) for row in result.rows]
        except RatingError as err:
            board.defence["message"] = f"The defended leaderboard cannot be computed: {err}"
    return excluded


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe row: NaN and infinities become None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


class BoardCache:
    """The latest leaderboard, recomputed only when the number of stored votes changed (owned by app.state)."""

    def __init__(self) -> None:
        self._board: Board | None = None
        self._lock = threading.Lock()

    def get(self, vote_count: int, load: Any) -> Board:
        with self._lock:
            if self._board is None or self._board.votes != vote_count:
                battles = list(load())
                self._board = compute(battles)
            return self._board

    def put(self, board: Board) -> None:
        """Adopt a board computed elsewhere (replica mode: another replica's, from Redis)."""
        with self._lock:
            self._board = board

    @property
    def latest(self) -> Board | None:
        return self._board
