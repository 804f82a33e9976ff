"""Statistics for eval scores: CLT means, clustered standard errors, epoch variance, paired differences, power."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)  # a question id (str in run logs, anything hashable in tests)

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean with its standard error and a 95% interval (mean ± 1.96 SE; not clipped to [0, 1]).

    When every score is 0 (or every score is 1) the CLT SE is 0 and mean ± 1.96 SE would claim certainty from a
    handful of questions; then the interval is Wilson's score interval instead (`wilson` holds it).
    """

    mean: float | None
    se: float | None
    n: int
    clusters: int
    wilson: tuple[float, float] | None = None

    @property
    def ci_low(self) -> float | None:
        if self.wilson is not None:
            return self.wilson[0]
        return None if self.mean is None or self.se is None else self.mean - Z95 * self.se

    @property
    def ci_high(self) -> float | None:
        if self.wilson is not None:
            return self.wilson[1]
        return None if self.mean is None or self.se is None else self.mean + Z95 * self.se

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ci_low": self.ci_low, "ci_high": self.ci_high}


def mean_ci(values: Sequence[float], *, proportion: bool = False) -> Estimate:
    """Mean with the CLT standard error sqrt(s^2 / n), s^2 the sample variance (n - 1 in the denominator).

    `proportion=True` marks 0/1 scores (accuracies): an all-0 or all-1 sample then gets Wilson's interval."""
    n = len(values)
    if n == 0:
        return Estimate(None, None, 0, 0)
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(mean, None, 1, 1)
    variance = math.fsum((x - mean) ** 2 for x in values) / (n - 1)
    wilson = _degenerate_wilson(mean, variance, n) if proportion else None
    return Estimate(mean, math.sqrt(variance / n), n, n, wilson)


def clustered_mean_ci(
    values: Sequence[float], clusters: Sequence[Hashable], *, proportion: bool = False
) -> Estimate:
    """Mean with a cluster-robust standard error, for samples that share a cluster (a question across epochs,
    a subject): SE = sqrt(G / (G - 1) * sum_c (sum_{i in c} (x_i - mean))^2) / n with G clusters.
    With one sample per cluster this equals the CLT standard error."""
    n = len(values)
    if n != len(clusters):
        raise ValueError("values and clusters must have the same length")
    if n == 0:
        return Estimate(None, None, 0, 0)
    mean = math.fsum(values) / n
    sums: dict[Hashable, float] = defaultdict(float)
    for x, cluster in zip(values, clusters, strict=True):
        sums[cluster] += x - mean
    g = len(sums)
    if g < 2:
        return Estimate(mean, None, n, g)
    se = math.sqrt(g / (g - 1) * math.fsum(s * s for s in sums.values())) / n
    return Estimate(mean, se, n, g, _degenerate_wilson(mean, se, g) if proportion else None)


def _degenerate_wilson(mean: float, spread: float, n: int) -> tuple[float, float] | None:
    """Wilson's 95% score interval for an all-0 or all-1 binary sample of n units; None otherwise."""
    if spread > 0 or mean not in (0.0, 1.0):
        return None
    z2 = Z95 * Z95
    bound = z2 / (n + z2)
    return (0.0, bound) if mean == 0.0 else (1.0 - bound, 1.0)


def within_question_variance(values: Sequence[float], questions: Sequence[Hashable]) -> float | None:
    """Mean over questions (with at least two epochs) of the sample variance of that question's scores."""
    groups: dict[Hashable, list[float]] = defaultdict(list)
    for x, question in zip(values, questions, strict=True):
        groups[question].append(x)
    variances = []
    for scores in groups.values():
        if len(scores) >= 2:
            m = math.fsum(scores) / len(scores)
            variances.append(math.fsum((x - m) ** 2 for x in scores) / (len(scores) - 1))
    return math.fsum(variances) / len(variances) if variances else None


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """Mean of A - B over shared questions, with the standard error of the paired differences."""

    n: int
    mean_a: float
    mean_b: float
    diff: Estimate
    correlation: float | None  # between per-question scores of A and B

    @property
    def significant(self) -> bool:
        low, high = self.diff.ci_low, self.diff.ci_high
        return low is not None and high is not None and (low > 0 or high < 0)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean_a": self.mean_a, "mean_b": self.mean_b, "diff": self.diff.mean,
                "se": self.diff.se, "ci_low": self.diff.ci_low, "ci_high": self.diff.ci_high,
                "correlation": self.correlation, "significant": self.significant}


def paired_difference(a: Mapping[K, float], b: Mapping[K, float]) -> PairedDifference:
    """Paired difference over the questions both runs scored (each value: a question's mean over epochs)."""
    shared = [q for q in a if q in b]
    if not shared:
        raise ValueError("the two runs share no scored questions")
    xs = [a[q] for q in shared]
    ys = [b[q] for q in shared]
    diff = mean_ci([x - y for x, y in zip(xs, ys, strict=True)])
    return PairedDifference(len(shared), math.fsum(xs) / len(xs), math.fsum(ys) / len(ys), diff, _correlation(xs, ys))


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def questions_needed(
    delta: float,
    *,
    sd_diff: float | None = None,
    sd: float = 0.5,
    correlation: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Questions needed for a paired comparison to detect a true difference `delta` (two-sided test at `alpha`
    with probability `power`): n = (z_{1-alpha/2} + z_power)^2 * sd_diff^2 / delta^2, where sd_diff is the standard
    deviation of per-question differences; if unknown, sd_diff^2 = 2 sd^2 (1 - correlation) (sd = 0.5 is the
    worst case for 0/1 scores)."""
    if not delta or not math.isfinite(delta):
        raise ValueError("delta must be a non-zero number")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be between 0 and 1")
    variance = sd_diff**2 if sd_diff is not None else 2 * sd**2 * (1 - correlation)
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return max(1, math.ceil(z * z * variance / (delta * delta)))
