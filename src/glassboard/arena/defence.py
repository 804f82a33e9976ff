"""The arena's defence against vote manipulation: the "defended" leaderboard and the public exclusion counts.

Why a module of its own: the leaderboard (board.py) stays the rating of every unflagged vote; this adds, beside it,
the board without the votes of anomalous voters (audit/anomaly.py: likelihood ratio of a voter's votes against the
fitted Bradley–Terry model, "always votes for one model" or "random"). Flagged voters' votes are never deleted:
they stay in the store and in exports, and only the defended and style-controlled boards leave them out.
"""

from __future__ import annotations

import warnings
from typing import Any

from glassboard.audit.anomaly import defend, table_voters
from glassboard.rating.errors import RatingError
from glassboard.rating.table import BattleTable


def defended_board(battles: list[dict[str, Any]], identity_flagged: int) -> tuple[dict[str, Any], list[int]]:
    """(the defence's JSON block, indices into `battles` of the votes it excludes).

    The block: `summary` (voters scored and flagged, votes excluded, by reason, threshold), `identity_flagged`
    (votes flagged when cast, e.g. a model named itself), and `rows` (filled in by the caller when voters were
    flagged: the leaderboard of the kept votes)."""
    block: dict[str, Any] = {"identity_flagged": identity_flagged, "summary": None, "rows": [], "message": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = BattleTable.from_battles(battles, source="arena votes", on_invalid="skip", with_style=False)
            codes, voters = table_voters(battles, table)
            defence = defend(table, codes, voters)
        except RatingError as err:
            block["message"] = f"The anomaly check cannot run yet: {err}"
            return block, []
    block["summary"] = defence.summary().to_json()
    excluded = (table.rows[~defence.keep] - 1).tolist()  # rows are 1-based positions in `battles`
    return block, excluded
