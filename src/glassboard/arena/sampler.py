"""Pair sampler: uniform over pairs of active variants, or favouring the widest rating intervals; exposure caps.

Every decision is returned as a JSON-able record that is stored with the battle, including the probability
of the chosen pair, so sampling bias can be audited (or corrected by inverse-propensity weighting) later.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from glassboard.schema import GlassboardError


class SamplerError(GlassboardError, RuntimeError):
    """Fewer than two variants can be sampled."""


@dataclass
class PairSampler:
    """Chooses the two variants of a new battle and which one is shown as A."""

    mode: str = "uniform"  # uniform | uncertainty
    exploration: float = 0.2
    caps: Mapping[str, float] | None = None  # variant name -> max share of all sampled battles
    default_cap: float | None = None
    cap_min_battles: int = 20
    rng: random.Random = field(default_factory=random.Random)

    def cap_of(self, name: str) -> float | None:
        return (self.caps or {}).get(name, self.default_cap)

    def choose(
        self,
        variants: Sequence[Any],
        counts: Mapping[str, int],
        widths: Mapping[str, float] | None = None,
    ) -> tuple[Any, Any, dict[str, Any]]:
        """(variant shown as A, variant shown as B, decision record).

        `variants` are the sampleable variants (active, not retired); `counts` the battles sampled so far per
        variant name; `widths` the 95% interval width per variant name (uncertainty mode only).
        """
        if len(variants) < 2:
            raise SamplerError("the arena needs at least two active variants to start a battle")
        total = sum(counts.values()) // 2  # each battle counts for two variants
        capped = []
        if total >= self.cap_min_battles:
            for v in variants:
                cap = self.cap_of(v.name)
                if cap is not None and counts.get(v.name, 0) / total >= cap:
                    capped.append(v.name)
        eligible = [v for v in variants if v.name not in capped]
        relaxed = len(eligible) < 2
        if relaxed:  # caps cannot leave the arena without a pair: fall back to every active variant
            eligible = list(variants)
        pairs = list(itertools.combinations(eligible, 2))
        weights, mode = self._weights(pairs, widths)
        explore = False
        if mode == "uncertainty" and self.rng.random() < self.exploration:
            explore = True
            weights = [1.0] * len(pairs)
        total_weight = sum(weights)
        index = self.rng.choices(range(len(pairs)), weights=weights)[0]
        first, second = pairs[index]
        # Blend exploration into the recorded probability so it is the true chance of this pair.
        p_pair = weights[index] / total_weight
        if mode == "uncertainty":
            uncertain = self._weights(pairs, widths)[0]
            p_pair = self.exploration / len(pairs) + (1 - self.exploration) * uncertain[index] / sum(uncertain)
        if self.rng.random() < 0.5:
            first, second = second, first
        decision = {
            "mode": mode,
            "explore": explore,
            "pairs": len(pairs),
            "p_pair": round(p_pair, 6),
            "capped": capped,
            "caps_relaxed": relaxed,
        }
        return first, second, decision

    def _weights(self, pairs: list[tuple[Any, Any]], widths: Mapping[str, float] | None) -> tuple[list[float], str]:
        if self.mode != "uncertainty" or not widths:
            return [1.0] * len(pairs), "uniform"
        known = [w for w in widths.values() if w and w > 0]
        if not known:
            return [1.0] * len(pairs), "uniform"
        unrated = 2 * max(known)  # a variant without a rating is the most uncertain of all
        weights = [
            widths.get(a.name) or unrated for a, _ in pairs
        ]
        weights = [wa + (widths.get(b.name) or unrated) for wa, (_, b) in zip(weights, pairs, strict=True)]
        return weights, "uncertainty"
