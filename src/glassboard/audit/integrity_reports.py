"""The typed reports of the arena-integrity audits: `audit manipulation` and the defence's counts (audit/anomaly.py).

Why a module of their own: the manipulation audit, the arena's defended board (arena/defence.py) and the CLI all
read these; keeping the records apart from the simulation keeps both modules short. `to_json()` is the document
`audit manipulation --json` writes (field order is the file's key order); `from_json()` reads one back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from glassboard.schema import JsonRecord


@dataclass(frozen=True, slots=True)
class ReasonCount(JsonRecord):
    """Flagged voters and their votes for one reason ("targeted" or "random")."""

    voters: int
    votes: int


@dataclass(frozen=True, slots=True)
class DefenceSummary(JsonRecord):
    """The defence on one set of battles: voters scored and flagged, votes excluded, by reason, the threshold."""

    voters: int
    flagged_voters: int
    excluded_votes: int
    by_reason: dict[str, ReasonCount]
    threshold: float
    alpha: float


@dataclass(frozen=True, slots=True)
class Estimate(JsonRecord):
    """An out-of-fold estimate with its 95% interval (rounded to 4 places)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Deanonymisation(JsonRecord):
    """How well the target's answers are told apart from the others' (audit/deanon.py), out of fold."""

    target: str
    answers: int
    target_answers: int
    battles: int
    uses_text: bool
    folds: int
    auc: Estimate
    accuracy: Estimate
    balanced_accuracy: Estimate
    side_accuracy: Estimate
    tpr: float
    fpr: float


@dataclass(frozen=True, slots=True)
class Attacker(JsonRecord):
    """The simulated attacker's operating point (from the measured classifier)."""

    tpr: float
    fpr: float
    side_accuracy: float
    otherwise: str = "abstains"


@dataclass(frozen=True, slots=True)
class GoalVotes(JsonRecord):
    """Votes needed for one goal rank: per seed (None: not within the budget), median and range over seeds."""

    goal_rank: int
    per_seed: list[int | None]
    reached: int
    seeds: int
    median: int | None
    low: int | None
    high: int | None


@dataclass(frozen=True, slots=True)
class CurveReport(JsonRecord):
    """The target's rank against malicious votes in one arena: median and 95% band over seeds, votes needed."""

    defended: bool
    budgets: list[int]
    rank_median: list[float]
    rank_low: list[float]
    rank_high: list[float]
    votes_needed: dict[str, GoalVotes]


@dataclass(frozen=True, slots=True)
class ManipulationReport(JsonRecord):
    """`audit manipulation`: de-anonymisation, the defence on the data, and votes-needed curves per arena."""

    audit: Literal["manipulation"] = field(default="manipulation", init=False)
    source: str
    target: str
    battles: int
    models: int
    start_rank: int
    budget: int
    seed: int
    seeds: int
    votes_per_account: int
    deanonymisation: Deanonymisation
    attacker: Attacker
    defence: DefenceSummary
    curves: list[CurveReport]
