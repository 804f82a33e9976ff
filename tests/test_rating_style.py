"""Style control (contextual BT) on synthetic battles with known strengths and style effects."""

from __future__ import annotations

import numpy as np
import pytest

from glassboard.rating.bt import fit_bt
from glassboard.rating.errors import RatingError, RatingWarning
from glassboard.rating.features import FEATURES, normalised_difference
from glassboard.rating.result import SCALE
from glassboard.rating.style import fit_style
from glassboard.rating.synth import synthetic_battles
from glassboard.rating.table import BattleTable

THETA = np.linspace(1.2, -1.2, 10)  # model-000 strongest, 46 rating points between neighbours
PLANTED = 6  # true rank 7


def _planted() -> tuple[BattleTable, np.ndarray]:
    """model-006 writes 3x longer answers with ~30x more emoji; voters reward length and emoji."""
    means = np.tile([400.0, 1.0, 3.0, 2.0, 0.2], (10, 1))
    means[PLANTED, 0] = 1200.0
    means[PLANTED, 4] = 6.0
    table, truth = synthetic_battles(
        20_000, 10, seed=11, theta=THETA, style_means=means, style_coef=[1.0, 0.0, 0.0, 0.0, 0.8]
    )
    return table, truth.theta


def test_planted_style_model_falls_to_its_true_rank_under_style_control() -> None:
    table, theta = _planted()
    raw = fit_bt(table)
    style = fit_style(table)
    i = raw.models.index(f"model-{PLANTED:03d}")
    assert raw.rank()[i] <= 3  # its wins from length and emoji lift it to the top three raw
    assert style.rank()[i] == PLANTED + 1  # ... and style control puts it back at #7
    truth = 1000.0 + SCALE * (theta - theta.mean())
    se = (style.ci_high - style.ci_low) / (2 * 1.96)
    assert np.all(np.abs(style.ratings - truth) < 4 * se)
    assert style.rank().tolist() == list(range(1, 11))
    coefs = {c["feature"]: c for c in style.style_coefficients()}
    assert set(coefs) == set(FEATURES)
    assert coefs["length"]["ci_low"] > 0 and coefs["emoji"]["ci_low"] > 0
    assert coefs["headers"]["ci_low"] < 0 < coefs["headers"]["ci_high"]


def test_style_coefficients_are_recovered_in_raw_units() -> None:
    gamma = np.array([0.8, 0.3, 0.0, 0.2, 0.5])
    table, truth = synthetic_battles(30_000, 10, seed=12, style_coef=gamma)
    r = fit_style(table)
    assert r.features == FEATURES
    raw_units = r.coef / r.feature_scale
    half_width = (r.coef_high - r.coef_low) / 2 / r.feature_scale
    assert np.all(np.abs(raw_units - gamma) < 3 * half_width), (raw_units, gamma)
    assert np.allclose(r.feature_scale, np.sqrt(np.mean(normalised_difference(table.counts) ** 2, axis=0)))


def test_style_sandwich_intervals_cover_strengths_and_coefficients() -> None:
    gamma = np.array([0.6, 0.0, 0.3, 0.0, 0.4])
    hits_theta, hits_coef = [], []
    for rep in range(30):
        table, truth = synthetic_battles(10_000, 8, seed=500 + rep, theta=np.linspace(-1, 1, 8), style_coef=gamma)
        r = fit_style(table)
        t = 1000.0 + SCALE * (truth.theta - truth.theta.mean())
        hits_theta.append((r.ci_low <= t) & (t <= r.ci_high))
        hits_coef.append((r.coef_low <= gamma * r.feature_scale) & (gamma * r.feature_scale <= r.coef_high))
    assert 0.88 <= np.mean(hits_theta) <= 0.99, np.mean(hits_theta)
    assert 0.85 <= np.mean(hits_coef) <= 1.0, np.mean(hits_coef)


def test_style_bootstrap_is_seeded_and_close_to_sandwich() -> None:
    table, _ = synthetic_battles(10_000, 8, seed=13, style_coef=[0.5, 0.2, 0.1, 0.1, 0.3])
    sandwich = fit_style(table)
    b1 = fit_style(table, ci="bootstrap", rounds=60, seed=3)
    b2 = fit_style(table, ci="bootstrap", rounds=60, seed=3)
    assert np.array_equal(b1.samples, b2.samples) and np.array_equal(b1.coef_low, b2.coef_low)
    assert np.array_equal(b1.ratings, sandwich.ratings)
    ratio = (b1.ci_high - b1.ci_low) / (sandwich.ci_high - sandwich.ci_low)
    assert np.all((0.6 < ratio) & (ratio < 1.5)), ratio
    assert np.all(b1.coef_low < b1.coef) and np.all(b1.coef < b1.coef_high)


def test_zero_variance_feature_is_dropped_with_a_warning_never_nan() -> None:
    table, _ = synthetic_battles(5_000, 6, seed=14, style_coef=[0.5, 0, 0, 0, 0])
    table.counts[:, :, 1] = 0.0  # no answer has headers
    table.counts[:, 0, 3] = 1.0  # model_a always bolds once, model_b never: constant, no information
    table.counts[:, 1, 3] = 0.0
    with pytest.warns(RatingWarning) as record:
        r = fit_style(table)
    messages = " ".join(str(w.message) for w in record)
    assert "'headers' has zero variance" in messages and "'bold' has zero variance" in messages
    assert r.features == ("length", "lists", "emoji") and r.dropped_features == ("headers", "bold")
    for arr in (r.ratings, r.ci_low, r.ci_high, r.coef, r.coef_low, r.coef_high):
        assert np.all(np.isfinite(arr))


@pytest.mark.filterwarnings("ignore:style feature\\(s\\) 'emoji' unavailable")
def test_feature_missing_everywhere_is_dropped_partial_is_an_error_naming_rows() -> None:
    table, _ = synthetic_battles(4_000, 6, seed=15)
    table.counts[:, :, 4] = np.nan  # LMArena's files carry no emoji counts
    with pytest.warns(RatingWarning, match="'emoji' unavailable"):
        r = fit_style(table)
    assert "emoji" not in r.features and len(r.features) == 4
    table.counts[[4, 9], 0, 0] = np.nan  # two battles without a token count
    with pytest.raises(RatingError, match=r"2 battles lack style counts .*rows 5, 10"):
        fit_style(table)
    with pytest.warns(RatingWarning, match="left out"):
        skipped = fit_style(table, on_invalid="skip")
    assert skipped.n_battles == len(table) - 2


@pytest.mark.filterwarnings("ignore:style feature.* unavailable")
def test_no_style_information_at_all_gives_the_raw_rating() -> None:
    table, _ = synthetic_battles(4_000, 5, seed=16)
    table.counts[:] = np.nan
    with pytest.warns(RatingWarning, match="no style feature is left"):
        style = fit_style(table)
    assert np.allclose(style.ratings, fit_bt(table).ratings, atol=1e-4)


def test_unknown_feature_name_is_an_error() -> None:
    table, _ = synthetic_battles(1_000, 4, seed=17)
    with pytest.raises(RatingError, match="unknown style feature"):
        fit_style(table, features=("length", "italics"))


def test_style_with_reweighting_anchor_and_dropped_bothbad() -> None:
    table, truth = synthetic_battles(
        20_000, 8, seed=18, theta=np.linspace(-1, 1, 8), style_coef=[0.6, 0, 0, 0, 0.4], popularity=np.arange(1, 9.0)
    )
    r = fit_style(table, reweight=True, anchor="model-000", anchor_rating=1100.0, bothbad="drop")
    assert r.ratings[r.models.index("model-000")] == pytest.approx(1100.0)
    assert r.ci_high[r.models.index("model-000")] == pytest.approx(1100.0)
    truth_pts = 1100.0 + SCALE * (truth.theta - truth.theta[0])
    se = np.maximum((r.ci_high - r.ci_low) / (2 * 1.96), 1e-9)
    assert np.all(np.abs(r.ratings - truth_pts) < 4 * se + 1e-6)
    assert r.n_battles < len(table)  # both-bad votes dropped
