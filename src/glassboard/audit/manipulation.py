"""`audit manipulation`: de-anonymisation on the real battles, then how many malicious votes move a target's rank,
without and with glassboard's defence.

Why: a rank is only as safe as the number of votes an attacker needs to move it. The simulation takes the data as
it is (its pair counts, and for the defended arena its voters as the anomaly score judges them) and adds an
attacker who votes for the target whenever the measured classifier says the target is in the battle (picking the
side it scores higher) and abstains otherwise (audit/attack.py). For each budget on a geometric grid the Bradley–
Terry fit is redone and the target's rank (1 + models with a higher strength) read off; the votes needed for a
goal (up 1, up 3, rank 1) are the first budget that reaches it. Seeds vary the attacker's battles and classifier
hits; the intervals are percentiles over seeds (simulation spread, not the uncertainty of the fitted strengths).
Defended: the attacker's votes come from accounts of `votes_per_account` votes; after each budget's fit the
accounts are scored (audit/anomaly.py) in the arena's two passes and flagged ones are left out of the final fit.
Honest voters flagged on the data stay excluded throughout (their flags are computed once, not per budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from glassboard.audit.anomaly import defend, score_voters, table_voters
from glassboard.audit.attack import Classifier, attack_votes
from glassboard.audit.deanon import DeanonError, deanonymise
from glassboard.audit.integrity_reports import Attacker, CurveReport, GoalVotes, ManipulationReport
from glassboard.rating.bt import fit_pairs
from glassboard.rating.table import A_WINS, B_WINS, BattleTable
from glassboard.schema import GlassboardError

GRID_POINTS = 25
SEEDS = 5
VOTES_PER_ACCOUNT = 50


class ManipulationError(GlassboardError, ValueError):
    """Bad parameters for the manipulation audit."""


@dataclass(frozen=True, slots=True)
class Curve:
    """The target's rank per budget, per seed, for one arena (undefended or defended)."""

    defended: bool
    budgets: list[int]
    ranks: np.ndarray  # seeds x budgets

    def needed(self, goal: int) -> list[int | None]:
        """Per seed: the first budget at which the target's rank is `goal` or better (None: not within budget)."""
        out: list[int | None] = []
        for row in self.ranks:
            hit = np.flatnonzero(row <= goal)
            out.append(self.budgets[int(hit[0])] if len(hit) else None)
        return out

    def report(self, goals: dict[str, int]) -> CurveReport:
        med = np.median(self.ranks, axis=0)
        low, high = np.percentile(self.ranks, [2.5, 97.5], axis=0)
        summary: dict[str, GoalVotes] = {}
        for name, goal in goals.items():
            per_seed = self.needed(goal)
            reached = [n for n in per_seed if n is not None]
            summary[name] = GoalVotes(
                goal_rank=goal, per_seed=per_seed, reached=len(reached), seeds=len(per_seed),
                # the median counts a seed that did not get there as "more than the budget"
                median=_median(per_seed), low=min(reached) if reached else None,
                high=max(reached) if len(reached) == len(per_seed) else None,
            )
        return CurveReport(defended=self.defended, budgets=self.budgets, rank_median=med.tolist(),
                           rank_low=low.tolist(), rank_high=high.tolist(), votes_needed=summary)


def _median(values: list[int | None]) -> int | None:
    ordered = sorted(values, key=lambda v: math.inf if v is None else v)
    middle = ordered[(len(ordered) - 1) // 2]
    return middle


def budget_grid(budget: int, points: int = GRID_POINTS) -> list[int]:
    """Geometric grid of vote budgets from 10 (or less) to `budget`, no repeats."""
    if budget < 1:
        raise ManipulationError(f"--budget must be positive, got {budget}")
    start = min(10, budget)
    return sorted({int(round(v)) for v in np.geomspace(start, budget, points)})


def pair_stats(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense (m x m) score of the row model (win 1, tie or both-bad 1/2) and battle counts."""
    y = np.where(outcome == A_WINS, 1.0, np.where(outcome == B_WINS, 0.0, 0.5))
    a, b = a.astype(np.int64), b.astype(np.int64)
    wins = np.bincount(a * m + b, weights=y, minlength=m * m) + np.bincount(b * m + a, weights=1 - y, minlength=m * m)
    count = np.bincount(a * m + b, minlength=m * m) + np.bincount(b * m + a, minlength=m * m)
    return wins.reshape(m, m), count.reshape(m, m).astype(np.float64)


def fit_dense(wins: np.ndarray, count: np.ndarray) -> np.ndarray:
    """BT strengths from dense pair statistics (tiny ridge: a model that never lost stays finite)."""
    m = len(wins)
    lo, hi = np.nonzero(np.triu(count, 1))
    return fit_pairs(lo, hi, wins[lo, hi], count[lo, hi], m, ridge=1e-4)[0]


def rank_of(theta: np.ndarray, k: int) -> int:
    return 1 + int((theta > theta[k]).sum())


def votes_needed_curve(
    table: BattleTable, keep: np.ndarray, target: int, clf: Classifier, *, budget: int, defended: bool,
    seeds: int = SEEDS, seed: int = 0, votes_per_account: int = VOTES_PER_ACCOUNT,
) -> Curve:
    """The target's rank after 0..budget attacker votes on the battles `keep` (see the module doc)."""
    m = table.n_models
    grid = budget_grid(budget)
    base_w, base_n = pair_stats(table.a[keep], table.b[keep], table.outcome[keep], m)
    ranks = np.empty((seeds, len(grid)), dtype=np.int64)
    streams = np.random.SeedSequence(seed).spawn(seeds)
    for s in range(seeds):
        rng = np.random.default_rng(streams[s])
        xa, xb, xo = attack_votes(rng, m, target, grid[-1], clf)
        for j, n in enumerate(grid):
            w, c = pair_stats(xa[:n], xb[:n], xo[:n], m)
            theta = fit_dense(base_w + w, base_n + c)
            if defended:  # the arena's two passes (anomaly.defend): score, refit without the flagged, score again
                accounts = np.arange(n) // votes_per_account
                names = [str(i) for i in range(int(accounts.max()) + 1)]
                attack = BattleTable.from_arrays(table.models, xa[:n], xb[:n], xo[:n])
                for _ in range(2):
                    flagged = score_voters(attack, accounts, names, theta).flagged[accounts]
                    w, c = pair_stats(xa[:n][~flagged], xb[:n][~flagged], xo[:n][~flagged], m)
                    theta = fit_dense(base_w + w, base_n + c)
            ranks[s, j] = rank_of(theta, target)
    return Curve(defended, grid, ranks)


def audit_manipulation(
    source: Any, table: BattleTable, target: str, *, budget: int = 5000, defended: bool | None = None,
    seed: int = 0, seeds: int = SEEDS, votes_per_account: int = VOTES_PER_ACCOUNT, name: str | None = None,
) -> ManipulationReport:
    """The full report: de-anonymisation, the defence on the data, and votes-needed curves (both arenas unless
    `defended` picks one). `source` is what `table` was read from (a path or the rows): voters and texts."""
    if target not in table.models:
        raise DeanonError(f"{table.source}: model {target!r} has no battles")
    if seeds < 1:
        raise ManipulationError(f"--seeds must be at least 1, got {seeds}")
    deanon = deanonymise(source, table, target, seed=seed)
    side = deanon.side_accuracy.value
    clf = Classifier(tpr=deanon.tpr, fpr=deanon.fpr, side_accuracy=0.5 if math.isnan(side) else side)
    codes, voters = table_voters(source, table)
    defence = defend(table, codes, voters)
    k = table.models.index(target)
    all_votes = np.ones(len(table), dtype=bool)
    start = rank_of(fit_dense(*pair_stats(table.a, table.b, table.outcome, table.n_models)), k)
    goals = {"up_1": start - 1, "up_3": start - 3, "rank_1": 1}
    goals = {name_: goal for name_, goal in goals.items() if goal >= 1 and start > 1}
    curves = []
    for arena in ((False, True) if defended is None else (defended,)):
        curves.append(votes_needed_curve(table, defence.keep if arena else all_votes, k, clf, budget=budget,
                                         defended=arena, seeds=seeds, seed=seed,
                                         votes_per_account=votes_per_account))
    return ManipulationReport(
        source=name or table.source, target=target, battles=len(table), models=table.n_models, start_rank=start,
        budget=budget, seed=seed, seeds=seeds, votes_per_account=votes_per_account,
        deanonymisation=deanon.report(),
        attacker=Attacker(tpr=round(clf.tpr, 4), fpr=round(clf.fpr, 4), side_accuracy=round(clf.side_accuracy, 4)),
        defence=defence.summary(), curves=[c.report(goals) for c in curves],
    )


def plot_curves(report: ManipulationReport, path: str) -> None:
    """The target's median rank (with the seeds' 95% band) against malicious votes, one line per arena."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for curve in report.curves:
        label = "defended" if curve.defended else "undefended"
        ax.plot(curve.budgets, curve.rank_median, marker="o", ms=3, label=label)
        ax.fill_between(curve.budgets, curve.rank_low, curve.rank_high, alpha=0.2)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("malicious votes")
    ax.set_ylabel(f"rank of {report.target}")
    ax.set_title(f"votes needed to move {report.target} ({report.seeds} seeds, 95% band)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
