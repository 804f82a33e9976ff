"""Plain Bradley-Terry, intervals, Elo and the Poisson sampler on synthetic battles with known strengths."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassboard.rating.bt import aggregate, fit_bt
from glassboard.rating.elo import fit_elo
from glassboard.rating.errors import RatingError, RatingWarning
from glassboard.rating.result import SCALE, Ratings, rank_upper_bound
from glassboard.rating.sampling import PoissonSampler
from glassboard.rating.synth import synthetic_battles
from glassboard.rating.table import A_WINS, B_WINS, TIE, BattleTable
from rating_synth import expanded_mle


def _centred_truth(theta: np.ndarray) -> np.ndarray:
    return 1000.0 + SCALE * (theta - theta.mean())


def test_ratings_recover_known_strengths() -> None:
    table, truth = synthetic_battles(20_000, 10, seed=1)
    r = fit_bt(table)
    se = (r.ci_high - r.ci_low) / (2 * 1.96)
    err = r.ratings - _centred_truth(truth.theta)
    assert np.all(np.abs(err) < 4 * se)
    assert abs(r.ratings.mean() - 1000.0) < 1e-9
    assert r.rank().tolist() == (1 + np.argsort(np.argsort(-r.ratings))).tolist()
    assert r.n_battles == 20_000 and r.votes.sum() == 40_000


def test_plain_bt_matches_independent_scipy_mle_on_expanded_rows() -> None:
    table, _ = synthetic_battles(20_000, 10, seed=2, tie_rate=0.3)
    r = fit_bt(table, ci="none")
    reference = 1000.0 + SCALE * expanded_mle(table)
    assert np.max(np.abs(r.ratings - reference)) < 0.01


def test_aggregation_is_sufficient() -> None:
    table, _ = synthetic_battles(5_000, 6, seed=3)
    pc = aggregate(table)
    assert pc.cells.sum() == len(table)
    assert np.all(pc.lo < pc.hi)
    # the lower-indexed model's wins equal its wins as model_a plus its wins as model_b
    lo_wins = np.sum(
        ((table.a < table.b) & (table.outcome == A_WINS)) | ((table.a > table.b) & (table.outcome == B_WINS))
    )
    assert pc.cells[:, 0].sum() == lo_wins


def test_sandwich_intervals_cover_the_truth_at_about_95_percent() -> None:
    hits = []
    for rep in range(40):
        table, truth = synthetic_battles(20_000, 10, seed=100 + rep, theta=np.linspace(-1.5, 1.5, 10))
        r = fit_bt(table)
        t = _centred_truth(truth.theta)
        hits.append((r.ci_low <= t) & (t <= r.ci_high))
    coverage = np.mean(hits)
    assert 0.90 <= coverage <= 0.99, coverage


def test_bootstrap_is_seeded_and_agrees_with_sandwich() -> None:
    table, _ = synthetic_battles(20_000, 10, seed=4)
    sandwich = fit_bt(table)
    b1 = fit_bt(table, ci="bootstrap", rounds=500, seed=7)
    b2 = fit_bt(table, ci="bootstrap", rounds=500, seed=7)
    b3 = fit_bt(table, ci="bootstrap", rounds=500, seed=8)
    assert np.array_equal(b1.ci_low, b2.ci_low) and np.array_equal(b1.samples, b2.samples)
    assert not np.array_equal(b1.ci_low, b3.ci_low)
    assert b1.samples.shape == (500, 10) and b1.rounds == 500 and b1.seed == 7
    width_ratio = (b1.ci_high - b1.ci_low) / (sandwich.ci_high - sandwich.ci_low)
    assert np.all((0.75 < width_ratio) & (width_ratio < 1.3)), width_ratio
    # the bootstrap rounds are real refits: their mean sits on the estimate
    assert np.max(np.abs(b1.samples.mean(axis=0) - b1.ratings)) < 3.0


def test_bootstrap_intervals_cover_the_truth() -> None:
    hits = []
    for rep in range(25):
        table, truth = synthetic_battles(10_000, 8, seed=300 + rep, theta=np.linspace(-1, 1, 8))
        r = fit_bt(table, ci="bootstrap", rounds=300, seed=rep)
        t = _centred_truth(truth.theta)
        hits.append((r.ci_low <= t) & (t <= r.ci_high))
    assert 0.88 <= np.mean(hits) <= 0.99, np.mean(hits)


def test_anchor_pins_a_model_and_keeps_differences() -> None:
    table, _ = synthetic_battles(10_000, 6, seed=5)
    free = fit_bt(table)
    anchored = fit_bt(table, anchor="model-002", anchor_rating=1200.0)
    i = anchored.models.index("model-002")
    assert anchored.ratings[i] == pytest.approx(1200.0) and anchored.ci_low[i] == pytest.approx(1200.0)
    assert np.allclose(np.diff(anchored.ratings), np.diff(free.ratings))
    with pytest.raises(RatingError, match="anchor model 'nope'"):
        fit_bt(table, anchor="nope")


def test_reweighting_and_bothbad_options() -> None:
    table, truth = synthetic_battles(20_000, 8, seed=6, popularity=np.array([20, 1, 1, 1, 1, 1, 1, 20.0]))
    plain = fit_bt(table)
    weighted = fit_bt(table, reweight=True)
    t = _centred_truth(truth.theta)
    assert np.max(np.abs(weighted.ratings - t)) < 60  # still recovers the strengths
    assert not np.allclose(weighted.ratings, plain.ratings)
    dropped = fit_bt(table, bothbad="drop")
    assert dropped.n_battles < plain.n_battles
    with pytest.raises(RatingError, match="bothbad"):
        fit_bt(table, bothbad="loss")  # type: ignore[arg-type]


def test_rank_upper_bound() -> None:
    low = np.array([1100.0, 1050.0, 1040.0, 900.0])
    high = np.array([1200.0, 1090.0, 1110.0, 1000.0])
    # model 1's upper bound (1090) is below model 0's lower bound (1100): rank 2; model 3 is beaten by all
    assert rank_upper_bound(low, high).tolist() == [1, 2, 1, 4]


def test_undefeated_model_is_finite_and_named() -> None:
    rows = [{"model_a": "champ", "model_b": "x", "winner": "model_a"}] * 5 + [
        {"model_a": "x", "model_b": "y", "winner": "model_a"},
        {"model_a": "y", "model_b": "x", "winner": "model_a"},
    ]
    with pytest.warns(RatingWarning, match="champ"):
        r = fit_bt(rows)
    assert np.all(np.isfinite(r.ratings))
    assert r.models[int(np.argmax(r.ratings))] == "champ"
    # the votes do not bound champ's lead: no finite interval (a narrow one around the ridge value would lie) ...
    assert r.ci_low[0] == -np.inf and r.ci_high[0] == np.inf
    # ... but x and y (1-1) are determined: mean 1000 over them, with finite intervals
    assert np.allclose(r.ratings[1:], 1000.0) and np.all(np.isfinite(r.ci_low[1:]) & np.isfinite(r.ci_high[1:]))
    assert np.all(r.ci_low[1:] < 1000.0) and np.all(r.ci_high[1:] > 1000.0)
    # anchored on the undetermined model, no distance to the anchor is known: every other interval is unbounded
    with pytest.warns(RatingWarning):
        anchored = fit_bt(rows, anchor="champ")
    assert anchored.ci_low[0] == anchored.ci_high[0] == anchored.ratings[0]
    assert np.all(anchored.ci_low[1:] == -np.inf) and np.all(anchored.ci_high[1:] == np.inf)
    # anchored on a determined one: the others of the core are relative to it, champ stays not determined
    with pytest.warns(RatingWarning):
        on_x = fit_bt(rows, anchor="x")
    assert on_x.ratings[1] == 1000.0 and np.isfinite(on_x.ci_high[2]) and on_x.ci_high[0] == np.inf


def honest_intervals(r: Ratings) -> None:
    """Every interval contains its finite estimate and is unbounded or of positive width: never NaN or zero-width."""
    assert np.all(np.isfinite(r.ratings))
    assert not np.any(np.isnan(r.ci_low)) and not np.any(np.isnan(r.ci_high))
    assert np.all(r.ci_low <= r.ratings + 1e-6) and np.all(r.ratings <= r.ci_high + 1e-6)
    assert np.all(r.ci_high - r.ci_low > 1.0)


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
@pytest.mark.parametrize(
    "winners",
    [["model_a"], ["model_a"] * 3, ["model_a", "model_a", "tie"], ["tie"] * 3, ["tie (bothbad)"] * 2],
)
def test_tiny_samples_never_give_a_zero_width_or_nan_interval(winners: list[str], ci: str) -> None:
    rows = [{"model_a": "a", "model_b": "b", "winner": w} for w in winners]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RatingWarning)
        r = fit_bt(rows, ci=ci, rounds=50)
    honest_intervals(r)


def test_poisson_sampler_has_the_poisson_law() -> None:
    means = np.array([0, 1, 3, 25, 400, 9000] * 200)
    x = PoissonSampler(means).draw(np.random.default_rng(0), 400)
    assert x.shape == (len(means), 400)
    by_mean = x.reshape(200, 6, 400).transpose(1, 0, 2).reshape(6, -1)
    mu = means[:6]
    assert np.all(by_mean[0] == 0)
    assert np.allclose(by_mean.mean(axis=1), mu, rtol=0.02, atol=0.02)
    assert np.allclose(by_mean.var(axis=1), mu, rtol=0.05, atol=0.05)
    assert np.all(x == np.round(x)) and x.min() >= 0


def test_elo_is_order_aware_and_never_crashes() -> None:
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "model_a", "tstamp": 2.0},
        {"model_a": "a", "model_b": "b", "winner": "model_b", "tstamp": 1.0},
        {"model_a": "b", "model_b": "c", "winner": "tie (bothbad)", "tstamp": 3.0},
    ]
    with pytest.warns(RatingWarning, match="single vote; .*: c"):
        r = fit_elo(rows)
    assert r.ci == "none" and r.method == "elo"
    assert r.ratings.sum() == pytest.approx(3000.0)  # zero-sum updates
    # b won first (at even odds: +2), then lost to a at 1002 vs 998
    assert r.as_dict()["a"] == pytest.approx(998.0 + 4.0 * (1 - 1 / (1 + 10 ** (4.0 / 400))))
    huge = BattleTable.from_arrays(["a", "b"], np.zeros(5000), np.ones(5000), np.zeros(5000))
    with pytest.warns(RatingWarning, match="never lost"):
        assert np.all(np.isfinite(fit_elo(huge, k=1e6).ratings))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.sampled_from([A_WINS, B_WINS, TIE, 3])),
        min_size=1,
        max_size=60,
    )
)
def test_never_nan_on_random_small_battle_sets(battles: list[tuple[int, int, int]]) -> None:
    battles = [(a, b, o) for a, b, o in battles if a != b]
    if not battles:
        return
    a, b, o = (np.array(col) for col in zip(*battles, strict=True))
    table = BattleTable.from_arrays([f"m{i}" for i in range(5)], a, b, o).subset(np.ones(len(a), dtype=bool))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RatingWarning)
        for ci in ("sandwich", "bootstrap"):
            try:
                r = fit_bt(table, ci=ci, rounds=20, connected="largest")
            except RatingError as err:
                assert "at least two models" in str(err) or "no battles" in str(err)
                continue
            honest_intervals(r)


def test_bootstrap_results_do_not_depend_on_the_thread_count() -> None:
    from glassboard.rating.style import fit_style

    table, _ = synthetic_battles(8_000, 6, seed=9, style_coef=[0.5, 0, 0, 0, 0.3])
    one = fit_bt(table, ci="bootstrap", rounds=120, seed=4, threads=1)
    two = fit_bt(table, ci="bootstrap", rounds=120, seed=4, threads=2)
    assert np.array_equal(one.samples, two.samples)
    s1 = fit_style(table, ci="bootstrap", rounds=12, seed=4, threads=1)
    s2 = fit_style(table, ci="bootstrap", rounds=12, seed=4, threads=2)
    assert np.array_equal(s1.samples, s2.samples) and np.array_equal(s1.coef_low, s2.coef_low)
