"""The shared vocabulary of glassboard: the one error root and the names every layer agrees on.

This module sits below every other one (it imports nothing from glassboard). What lives here is what crosses layers:
LMArena's battle columns, winner labels and outcome codes, the arena's battle statuses, and `GlassboardError`, the
root of every error glassboard raises on purpose (so a caller catches one type and prints its message). Typed
records that cross layers (the battle row, run records, reports) are defined next to this vocabulary or import it;
nothing else defines these names a second time.
"""

from __future__ import annotations

from typing import Final, Literal


class GlassboardError(Exception):
    """Root of glassboard's own errors: the message is meant for a person and names the file, row, field or URL."""


# LMArena's vote-release columns, in file order. One battle record carries exactly these names from the arena to
# the store, to exports and to the rating library (extra columns such as `judge` or `turn` ride along untouched).
BATTLE_COLUMNS: Final = (
    "model_a", "model_b", "winner", "tstamp", "conversation_a", "conversation_b",
    "conv_metadata", "category", "language", "voter", "flags",
)

Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
# The four labels of LMArena's releases. "tie (bothbad)" is a tie in which the voter disliked both answers.
WINNERS: Final[tuple[Winner, ...]] = ("model_a", "model_b", "tie", "tie (bothbad)")
# Spellings seen in other public arena exports, accepted on read and normalised to the labels above.
WINNER_ALIASES: Final = {"both_bad": "tie (bothbad)", "bothbad": "tie (bothbad)", "tie(bothbad)": "tie (bothbad)"}

# Outcome codes, from model_a's point of view (the rating library's arrays use these).
A_WINS, B_WINS, TIE, BOTHBAD = 0, 1, 2, 3
OUTCOME_CODES: Final = {"model_a": A_WINS, "model_b": B_WINS, "tie": TIE, "tie (bothbad)": BOTHBAD}

BattleStatus = Literal["streaming", "ready", "failed", "voted"]
# A battle's life in the arena: answers streaming -> ready to vote (or failed) -> voted.
BATTLE_STATUSES: Final[tuple[BattleStatus, ...]] = ("streaming", "ready", "failed", "voted")

# Flag set on a vote whose answers named a model, vendor or provider (kept and exported, not rated).
IDENTITY_FLAG: Final = "identity_revealed"
