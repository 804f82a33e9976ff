"""Statistics and claim verdicts against values computed by hand."""

from __future__ import annotations

import math

import pytest

from glassboard.bench.claims import check_claim, parse_claim, verdict
from glassboard.bench.stats import (
    Z95,
    clustered_mean_ci,
    mean_ci,
    paired_difference,
    questions_needed,
    within_question_variance,
)
from glassboard.models.types import ConfigError


def test_clt_mean_and_interval() -> None:
    # mean 0.75; sample variance ((3 * 0.25^2) + 0.75^2) / 3 = 0.25; SE = sqrt(0.25 / 4) = 0.25
    est = mean_ci([1, 0, 1, 1])
    assert est.mean == 0.75 and est.se == pytest.approx(0.25)
    assert est.ci_low == pytest.approx(0.75 - 1.959964 * 0.25, abs=1e-6)
    assert est.ci_high == pytest.approx(0.75 + 1.959964 * 0.25, abs=1e-6)
    assert Z95 == pytest.approx(1.959964, abs=1e-6)


def test_degenerate_samples() -> None:
    assert mean_ci([]).mean is None and mean_ci([]).ci_low is None
    one = mean_ci([1.0])
    assert one.mean == 1.0 and one.se is None and one.ci_high is None
    assert mean_ci([1, 1, 1]).se == 0.0


def test_clustered_standard_error() -> None:
    # mean 0.5; residual sums per cluster: a = 0.5 + 0.5 = 1, b = -1, c = 0; G = 3
    # SE = sqrt(3/2 * (1 + 1 + 0)) / 6 = sqrt(3) / 6
    est = clustered_mean_ci([1, 1, 0, 0, 1, 0], ["a", "a", "b", "b", "c", "c"])
    assert est.mean == 0.5 and est.clusters == 3
    assert est.se == pytest.approx(math.sqrt(3) / 6)
    # Correlated answers within a cluster make the SE larger than the naive CLT one (0.2236).
    assert est.se > mean_ci([1, 1, 0, 0, 1, 0]).se


def test_clustered_with_singletons_equals_clt() -> None:
    values = [1, 0, 0, 1, 1, 1, 0]
    assert clustered_mean_ci(values, list(range(7))).se == pytest.approx(mean_ci(values).se)


def test_one_cluster_has_no_standard_error() -> None:
    assert clustered_mean_ci([1, 0], ["x", "x"]).se is None


def test_within_question_variance() -> None:
    # q1 [1, 0]: 0.5; q2 [1, 1]: 0; q3 [0, 0, 1]: mean 1/3, ((1/9) * 2 + 4/9) / 2 = 1/3; q4 has one epoch (skipped)
    values = [1, 0, 1, 1, 0, 0, 1, 1]
    questions = ["q1", "q1", "q2", "q2", "q3", "q3", "q3", "q4"]
    assert within_question_variance(values, questions) == pytest.approx((0.5 + 0 + 1 / 3) / 3)
    assert within_question_variance([1, 0], ["a", "b"]) is None


def test_paired_difference() -> None:
    # d = [1, 0, 0, 1] over the shared questions (q5 only in A): mean 0.5, variance 1/3, SE = sqrt(1/12)
    a = {"q1": 1.0, "q2": 1.0, "q3": 0.0, "q4": 1.0, "q5": 1.0}
    b = {"q1": 0.0, "q2": 1.0, "q3": 0.0, "q4": 0.0}
    result = paired_difference(a, b)
    assert result.n == 4 and result.mean_a == 0.75 and result.mean_b == 0.25
    assert result.diff.mean == 0.5 and result.diff.se == pytest.approx(math.sqrt(1 / 12))
    assert result.diff.ci_low == pytest.approx(0.5 - Z95 * math.sqrt(1 / 12))
    assert not result.significant  # 0.5 - 1.96 * 0.2887 < 0
    with pytest.raises(ValueError):
        paired_difference({"x": 1.0}, {"y": 1.0})


def test_power_helper() -> None:
    # (1.959964 + 0.841621)^2 = 7.848879; 2 * 0.5^2 = 0.5; / 0.05^2 -> 1569.8 -> 1570
    assert questions_needed(0.05) == 1570
    # With the observed SD of per-question differences: 7.848879 * 0.3^2 / 0.1^2 = 70.6 -> 71
    assert questions_needed(0.1, sd_diff=0.3) == 71
    # Correlated models need fewer questions: 7.848879 * 0.5 * 0.5 / 0.0025 = 784.9 -> 785
    assert questions_needed(0.05, correlation=0.5) == 785
    with pytest.raises(ValueError):
        questions_needed(0)


@pytest.mark.parametrize(("text", "value"), [("0.55", 0.55), ("55", 0.55), ("55%", 0.55), ("1", 1.0), ("0", 0.0)])
def test_parse_claim(text: str, value: float) -> None:
    assert parse_claim(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "-3", "150", ""])
def test_bad_claims(text: str) -> None:
    with pytest.raises(ConfigError, match="--claim"):
        parse_claim(text)


def test_verdicts() -> None:
    assert verdict(0.55, 0.40, 0.50) == "below"
    assert verdict(0.55, 0.60, 0.70) == "above"
    assert verdict(0.55, 0.50, 0.60) == "consistent"
    assert verdict(0.55, None, None) == "unknown"
    check = check_claim(0.55, strict=(0.0, 0.02), lenient=(0.50, 0.60))
    assert (check.verdict_strict, check.verdict_lenient) == ("below", "consistent")
    assert "lenient scoring only" in check.matches
    assert check.as_dict() == {"value": 0.55, "verdict_strict": "below", "verdict_lenient": "consistent"}


def test_all_wrong_or_all_right_gives_wilson_not_a_zero_width_interval() -> None:
    from glassboard.bench.stats import clustered_mean_ci, mean_ci

    zero = mean_ci([0.0] * 10, proportion=True)
    assert zero.mean == 0.0 and zero.se == 0.0
    # Wilson at p = 0: upper bound z^2 / (n + z^2) = 3.8415 / 13.8415
    assert zero.ci_low == 0.0 and abs(zero.ci_high - 0.27753) < 1e-4
    one = mean_ci([1.0] * 10, proportion=True)
    assert one.ci_high == 1.0 and abs(one.ci_low - (1 - 0.27753)) < 1e-4
    # Clustered (3 questions x 2 epochs, all wrong): the interval counts clusters, not samples.
    clustered = clustered_mean_ci([0.0] * 6, ["q1", "q1", "q2", "q2", "q3", "q3"], proportion=True)
    assert abs(clustered.ci_high - 3.8415 / 6.8415) < 1e-3
    # A sample with variance keeps the CLT interval.
    mixed = mean_ci([0.0, 1.0, 1.0, 0.0], proportion=True)
    assert mixed.wilson is None and mixed.ci_low < 0.5 < mixed.ci_high
    # Differences are not proportions: identical runs give a zero-width difference, never a one-sided Wilson.
    same = paired_difference({"q1": 1.0, "q2": 0.0}, {"q1": 1.0, "q2": 0.0})
    assert same.diff.ci_low == 0.0 and same.diff.ci_high == 0.0
