"""Simulated voters with known behaviour: honest (Bradley–Terry), targeted attackers and random voters.

Why: the defences and `audit manipulation` are measured against ground truth, which real votes never have. The
attacker is the one of Huang et al. (2025): it votes for its target whenever its de-anonymising classifier says
the target is in the battle (picking the side the classifier scores higher), and does not vote otherwise. The
classifier's operating point (true/false-positive rate, side accuracy) is a parameter, measured by
`audit.deanon` on real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassboard.rating.synth import synthetic_battles
from glassboard.rating.table import A_WINS, B_WINS, BattleTable


@dataclass(frozen=True, slots=True)
class Classifier:
    """The attacker's de-anonymiser at its operating point."""

    tpr: float = 0.9  # P(says "target present" | present)
    fpr: float = 0.05  # P(says "target present" | absent)
    side_accuracy: float = 0.95  # P(picks the target's side | present and detected)


@dataclass(frozen=True, slots=True)
class Population:
    """Simulated battles with each battle's voter and each voter's true kind."""

    table: BattleTable
    voter_codes: np.ndarray
    voters: list[str]
    kind: np.ndarray  # per voter: 0 honest, 1 targeted attacker, 2 random voter
    theta: np.ndarray
    target: int

    @property
    def malicious(self) -> np.ndarray:
        return self.kind > 0


def attack_votes(
    rng: np.random.Generator, n_models: int, target: int, n_votes: int, clf: Classifier, *, max_draws: int = 10**8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, outcome) of `n_votes` attacker votes on uniformly sampled pairs: battles the classifier does not flag
    are skipped (the attacker starts new battles until it has cast `n_votes`)."""
    out_a, out_b, out_o, drawn = [], [], [], 0
    need = n_votes
    while need > 0 and drawn < max_draws:
        k = max(64, int(need * 1.3 * n_models / (2 * clf.tpr + n_models * clf.fpr) + 64))
        a = rng.integers(0, n_models, k)
        b = rng.integers(0, n_models - 1, k)
        b += b >= a
        drawn += k
        present = (a == target) | (b == target)
        detected = np.where(present, rng.random(k) < clf.tpr, rng.random(k) < clf.fpr)
        a, b, present = a[detected], b[detected], present[detected]
        right = rng.random(len(a)) < clf.side_accuracy
        target_is_a = a == target
        pick_a = np.where(present, target_is_a == right, rng.random(len(a)) < 0.5)
        outcome = np.where(pick_a, A_WINS, B_WINS).astype(np.int8)
        out_a.append(a[:need])
        out_b.append(b[:need])
        out_o.append(outcome[:need])
        need -= min(need, len(a))
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_o)


def simulate(
    *,
    n_models: int = 20,
    honest_voters: int = 2000,
    honest_mean_votes: float = 15.0,
    attackers: int = 50,
    random_voters: int = 50,
    votes_per_attacker: int = 50,
    classifier: Classifier | None = None,
    spread: float = 1.0,
    seed: int = 0,
) -> Population:
    """Honest voters (1 + geometric votes, mean `honest_mean_votes`) voting as BT with ties, targeted attackers on
    one model in the lower half, and voters who pick sides at random; every voter's kind is recorded."""
    rng = np.random.default_rng(seed)
    clf = classifier or Classifier()
    per_honest = 1 + rng.geometric(1.0 / honest_mean_votes, honest_voters) - 1
    n_honest = int(per_honest.sum())
    honest, truth = synthetic_battles(n_honest, n_models, seed=seed, spread=spread)
    codes = [np.repeat(np.arange(honest_voters), per_honest)]
    a, b, o = [honest.a], [honest.b], [honest.outcome]
    order = np.argsort(truth.theta)
    target = int(order[rng.integers(0, n_models // 2)])
    next_code = honest_voters
    for _ in range(attackers):
        xa, xb, xo = attack_votes(rng, n_models, target, votes_per_attacker, clf)
        a.append(xa)
        b.append(xb)
        o.append(xo)
        codes.append(np.full(len(xa), next_code))
        next_code += 1
    for _ in range(random_voters):
        xa = rng.integers(0, n_models, votes_per_attacker)
        xb = rng.integers(0, n_models - 1, votes_per_attacker)
        xb += xb >= xa
        a.append(xa)
        b.append(xb)
        o.append(np.where(rng.random(votes_per_attacker) < 0.5, A_WINS, B_WINS).astype(np.int8))
        codes.append(np.full(votes_per_attacker, next_code))
        next_code += 1
    table = BattleTable.from_arrays(truth.models, np.concatenate(a), np.concatenate(b), np.concatenate(o),
                                    source="<simulated voters>")
    kind = np.concatenate([np.zeros(honest_voters), np.ones(attackers), np.full(random_voters, 2)]).astype(np.int8)
    voters = [f"honest-{i}" for i in range(honest_voters)] + [f"attacker-{i}" for i in range(attackers)] + [
        f"random-{i}" for i in range(random_voters)]
    return Population(table, np.concatenate(codes).astype(np.int64), voters, kind, truth.theta, target)
