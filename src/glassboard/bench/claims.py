"""Is a claimed score consistent with a measured one? A verdict per scoring at 95%."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from glassboard.models.types import ConfigError

Verdict = Literal["consistent", "below", "above", "unknown"]


def parse_claim(value: str | float) -> float:
    """'0.55', '55', '55%' -> 0.55 (numbers above 1 are percentages)."""
    text = str(value).strip()
    match = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*(%?)", text)
    if match is None:
        raise ConfigError(f"--claim must be a score like 0.55, 55 or 55%, got {text!r}")
    number = float(match.group(1))
    if match.group(2) or number > 1:
        number /= 100
    if not 0 <= number <= 1:
        raise ConfigError(f"--claim must be between 0 and 1 (or 0% and 100%), got {text!r}")
    return number


def verdict(claim: float, ci_low: float | None, ci_high: float | None) -> Verdict:
    """'below': the measured 95% interval lies entirely below the claim; 'above': entirely above."""
    if ci_low is None or ci_high is None:
        return "unknown"
    if ci_high < claim:
        return "below"
    if ci_low > claim:
        return "above"
    return "consistent"


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    value: float
    verdict_strict: Verdict
    verdict_lenient: Verdict

    @property
    def matches(self) -> str:
        """Which scoring the claim is consistent with, in words."""
        strict, lenient = self.verdict_strict == "consistent", self.verdict_lenient == "consistent"
        if strict and lenient:
            return "consistent with both strict and lenient scoring"
        if lenient:
            return "matches lenient scoring only (the claim needs a forgiving answer extraction)"
        if strict:
            return "matches strict scoring only"
        return "matches neither scoring"

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "verdict_strict": self.verdict_strict, "verdict_lenient": self.verdict_lenient}


def check_claim(claim: float, strict: tuple[float | None, float | None],
                lenient: tuple[float | None, float | None]) -> ClaimCheck:
    return ClaimCheck(claim, verdict(claim, *strict), verdict(claim, *lenient))
