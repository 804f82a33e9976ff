"""Per-voter anomaly scores: how much better a voter's votes are explained by "always votes for one model" or by
"votes at random" than by the fitted Bradley–Terry model, and the defence built on it (flag, exclude, refit).

Why here: the arena's defended leaderboard, `audit manipulation` (votes needed with defences) and the detection
measurement all need the same score; it depends only on the rating library, so it lives with the audits.

The score of a voter is the log likelihood ratio (nats) of their decisive votes (ties carry no side and are left
out) under the best of K alternatives against the fitted BT model (strengths theta, MAP with a unit Gaussian prior):
  - random: P(side) = 1/2 for every vote;
  - targeted(f, q), for every model f and q in TARGET_FOLLOW: when f is in the battle the voter picks f with
    probability q; otherwise the voter votes as BT says.
Each alternative's likelihood ratio has expectation 1 under BT, so by Markov's inequality and the union bound over
the K = 1 + len(TARGET_FOLLOW) * models alternatives, P(score >= ln(K / alpha)) <= alpha for a voter who votes as
the model says, whatever their number of votes: the default threshold ln(K / 0.01) bounds the false-positive rate
on such voters by 1%. Real people are not BT-consistent one by one (tastes differ), so on real data the rate can be
higher; the measured numbers are in docs/audit.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glassboard.audit.integrity_reports import DefenceSummary, ReasonCount
from glassboard.rating.bt import aggregate, fit_pairs
from glassboard.rating.table import A_WINS, B_WINS, BattleTable
from glassboard.schema import GlassboardError

ALPHA = 0.01  # bound on the share of BT-consistent voters flagged (see the module docstring)
TARGET_FOLLOW = (0.99, 0.9, 0.75)  # how faithfully a "targeted" voter picks its model, one alternative each
SCORE_RIDGE = 1.0  # unit Gaussian prior on strengths: a model that never lost gets a finite, modest strength
NO_VOTER = -1


class AnomalyError(GlassboardError, ValueError):
    """Battles and voters do not line up, or a parameter is out of range."""


@dataclass(frozen=True, slots=True)
class VoterScores:
    """Scores of every voter (index i names voters[i]); `flagged` = score >= threshold."""

    voters: list[str]
    votes: np.ndarray  # decisive votes per voter (the ones scored)
    cast: np.ndarray  # all votes per voter, ties included
    score: np.ndarray  # best log likelihood ratio (nats) against the fitted BT model
    random_llr: np.ndarray  # log LR of "random" alone
    target: np.ndarray  # model index of the best "targeted" alternative (-1: none)
    target_llr: np.ndarray
    threshold: float
    models: list[str]

    @property
    def flagged(self) -> np.ndarray:
        return self.score >= self.threshold

    def reason(self, i: int) -> str:
        """Why voter i scores as it does: 'targeted' or 'random'."""
        return "targeted" if self.target_llr[i] >= self.random_llr[i] else "random"

    def reasons(self) -> dict[str, int]:
        """Flagged voters per reason."""
        out: dict[str, int] = {}
        for i in np.flatnonzero(self.flagged):
            out[self.reason(int(i))] = out.get(self.reason(int(i)), 0) + 1
        return out


@dataclass(frozen=True, slots=True)
class Defence:
    """The outcome of the defence on one set of battles: scores (second pass) and which battles it keeps."""

    scores: VoterScores
    keep: np.ndarray  # per battle of the table: not cast by a flagged voter

    @property
    def excluded_votes(self) -> int:
        return int((~self.keep).sum())

    def summary(self) -> DefenceSummary:
        """The counts: voters scored and flagged, votes excluded, by reason, and the threshold used."""
        flagged = self.scores.flagged
        by_reason: dict[str, ReasonCount] = {}
        for i in np.flatnonzero(flagged):
            reason = self.scores.reason(int(i))
            entry = by_reason.get(reason, ReasonCount(0, 0))
            by_reason[reason] = ReasonCount(entry.voters + 1, entry.votes + int(self.scores.cast[i]))
        return DefenceSummary(voters=len(self.scores.voters), flagged_voters=int(flagged.sum()),
                              excluded_votes=self.excluded_votes, by_reason=by_reason,
                              threshold=round(self.scores.threshold, 3), alpha=ALPHA)


def threshold(n_models: int, alpha: float = ALPHA) -> float:
    """ln(K / alpha), K = 1 + len(TARGET_FOLLOW) * n_models alternatives: the default flagging threshold."""
    if not 0 < alpha < 1:
        raise AnomalyError(f"alpha must be in (0, 1), got {alpha}")
    return math.log((1 + len(TARGET_FOLLOW) * n_models) / alpha)


def fit_strengths(table: BattleTable, keep: np.ndarray | None = None) -> np.ndarray:
    """MAP BT strengths (log-odds) of `table` (or of its battles where `keep`), on all of its models."""
    sub = table if keep is None else _rows(table, keep)
    pc = aggregate(sub, bothbad="tie")
    score, count = pc.stats()
    theta, _ = fit_pairs(pc.lo, pc.hi, score, count, table.n_models, ridge=SCORE_RIDGE)
    return theta


def _rows(table: BattleTable, keep: np.ndarray) -> BattleTable:
    """The battles where `keep`, with the model indices unchanged (unlike BattleTable.subset)."""
    return BattleTable(models=table.models, a=table.a[keep], b=table.b[keep], outcome=table.outcome[keep],
                       counts=table.counts[keep], rows=table.rows[keep], tstamp=table.tstamp[keep],
                       source=table.source)


def score_voters(
    table: BattleTable, voter_codes: np.ndarray, voters: list[str], theta: np.ndarray, *, alpha: float = ALPHA
) -> VoterScores:
    """Score every voter's decisive votes against strengths `theta` (vectorised: ~1 s per million votes)."""
    codes = np.asarray(voter_codes, dtype=np.int64)
    if codes.shape != (len(table),):
        raise AnomalyError(f"{table.source}: {len(codes)} voter codes for {len(table)} battles")
    n_voters, m = len(voters), table.n_models
    decisive = ((table.outcome == A_WINS) | (table.outcome == B_WINS)) & (codes >= 0)
    a, b = table.a[decisive].astype(np.int64), table.b[decisive].astype(np.int64)
    v = codes[decisive]
    y = (table.outcome[decisive] == A_WINS).astype(np.float64)  # 1: a chosen
    d = theta[a] - theta[b]
    ll_bt = -np.logaddexp(0.0, -(2.0 * y - 1.0) * d)  # log P(the chosen side) under BT
    votes = np.bincount(v, minlength=n_voters).astype(np.int64)
    cast = np.bincount(codes[codes >= 0], minlength=n_voters).astype(np.int64)
    bt_total = np.bincount(v, weights=ll_bt, minlength=n_voters)
    random_llr = votes * math.log(0.5) - bt_total
    # targeted(f, q): only votes with f in the battle change; both sides of each vote are a candidate f
    key = np.concatenate([v * m + a, v * m + b])
    chose = np.concatenate([y, 1.0 - y])
    base = np.concatenate([ll_bt, ll_bt])
    keys, inverse = np.unique(key, return_inverse=True)
    best = np.full(len(keys), -np.inf)
    for q in TARGET_FOLLOW:
        delta = chose * math.log(q) + (1.0 - chose) * math.log(1.0 - q) - base
        best = np.maximum(best, np.bincount(inverse, weights=delta, minlength=len(keys)))
    key_voter, key_model = keys // m, keys % m
    order = np.lexsort((-best, key_voter))  # per voter, its best key first
    first = order[np.r_[True, key_voter[order][1:] != key_voter[order][:-1]]] if len(order) else order
    target = np.full(n_voters, -1, dtype=np.int64)
    target_llr = np.full(n_voters, -np.inf)
    target[key_voter[first]] = key_model[first]
    target_llr[key_voter[first]] = best[first]
    score = np.maximum(random_llr, target_llr)
    score[votes == 0] = 0.0
    return VoterScores(list(voters), votes, cast, score, random_llr, target, target_llr, threshold(m, alpha),
                       list(table.models))


def defend(table: BattleTable, voter_codes: np.ndarray, voters: list[str], *, alpha: float = ALPHA) -> Defence:
    """Flag anomalous voters in two passes (score against the fit of all votes, refit without the flagged ones,
    score again), and keep the battles of the voters not flagged in the second pass."""
    codes = np.asarray(voter_codes, dtype=np.int64)
    first = score_voters(table, codes, voters, fit_strengths(table), alpha=alpha)
    kept = ~_cast_by(codes, first.flagged)
    theta = fit_strengths(table, kept) if not kept.all() else fit_strengths(table)
    second = score_voters(table, codes, voters, theta, alpha=alpha)
    return Defence(second, ~_cast_by(codes, second.flagged))


def _cast_by(codes: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Per battle: cast by a flagged voter."""
    out = np.zeros(len(codes), dtype=bool)
    known = codes >= 0
    out[known] = flagged[codes[known]]
    return out


# ------------------------------------------------------------------------------------------- voters of battles
def encode_voters(names: Iterable[str | None]) -> tuple[np.ndarray, list[str]]:
    """Integer codes (NO_VOTER for a missing voter) and the voter names, in first-seen order."""
    index: dict[str, int] = {}
    codes = [NO_VOTER if not name else index.setdefault(str(name), len(index)) for name in names]
    return np.asarray(codes, dtype=np.int64), list(index)


def table_voters(source: Any, table: BattleTable) -> tuple[np.ndarray, list[str]]:
    """The voter of every battle of `table`, read from the same `source` it was built from (a path or the rows):
    `table.rows` holds each battle's 1-based row number in the source."""
    if isinstance(source, BattleTable):
        raise AnomalyError(f"{table.source}: a BattleTable has no voters; pass the battle file or rows")
    if isinstance(source, str | Path):
        column = _file_voters(Path(source))
    else:
        column = {n: row.get("voter") if isinstance(row, Mapping) else getattr(row, "voter", None)
                  for n, row in enumerate(source, 1)}
    picked = [column.get(r) for r in table.rows.tolist()]
    return encode_voters(None if v is None else str(v) for v in picked)


def _file_voters(path: Path) -> dict[int, Any]:
    """The `voter` column of a battle file by row number (JSONL: line number), as the table numbers rows."""
    if path.name.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        if "voter" not in pq.ParquetFile(path).schema_arrow.names:
            return {}
        column = pq.read_table(path, columns=["voter"]).column("voter").to_pylist()
        return dict(enumerate(column, 1))
    from glassboard.rating.battles import iter_rows

    return {n: row.get("voter") if isinstance(row, Mapping) else None for n, row in iter_rows(path)}
