"""The combined leaderboard (raw + style control) and the bad-input rules."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassboard.rating.battles import compute_conv_metadata
from glassboard.rating.errors import RatingError, RatingWarning
from glassboard.rating.leaderboard import ROW_KEYS, STYLE_KEYS, leaderboard
from glassboard.rating.synth import synthetic_battles
from glassboard.rating.table import BattleTable
from rating_synth import rows_from_table


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    table, _ = synthetic_battles(6_000, 6, seed=21, style_coef=[0.6, 0.1, 0.1, 0.1, 0.4])
    return rows_from_table(table)


def test_rows_have_both_views_side_by_side(rows: list[dict]) -> None:
    board = leaderboard(rows)
    assert len(board.rows) == 6 and board.n_battles == 6_000
    assert all(tuple(r) == ROW_KEYS + STYLE_KEYS for r in board.rows)
    style = [r["style_rating"] for r in board.rows]
    assert style == sorted(style, reverse=True)  # best first under style control
    for r in board.rows:
        assert r["ci_low"] <= r["rating"] <= r["ci_high"]
        assert r["style_ci_low"] <= r["style_rating"] <= r["style_ci_high"]
        assert r["rank_shift"] == r["rank_ub"] - r["style_rank_ub"]
        assert all(not (isinstance(v, float) and math.isnan(v)) for v in r.values())
    assert sorted(r["style_rank"] for r in board.rows) == list(range(1, 7))
    assert sum(r["votes"] for r in board.rows) == 12_000
    assert [c["feature"] for c in board.style_coefficients] == ["length", "headers", "lists", "bold", "emoji"]


def test_raw_view_only(rows: list[dict]) -> None:
    board = leaderboard(rows, style_control=False, elo=True)
    assert board.style is None and all(tuple(r) == ROW_KEYS + ("elo",) for r in board.rows)
    ratings = [r["rating"] for r in board.rows]
    assert ratings == sorted(ratings, reverse=True)
    assert [r["rank"] for r in board.rows] == list(range(1, 7))


def test_matrices(rows: list[dict]) -> None:
    board = leaderboard(rows, style_control=False)
    counts, frac, pred = board.battle_counts, board.win_fraction, board.predicted_win
    assert np.array_equal(counts, counts.T) and counts.sum() == 2 * 6_000 and np.all(np.diag(counts) == 0)
    off = ~np.eye(6, dtype=bool)
    assert np.allclose((frac + frac.T)[off], 1.0) and np.all(np.isnan(np.diag(frac)))
    assert np.allclose(pred + pred.T, 1.0)
    # the model on top wins most of its battles, as predicted
    assert np.nanmean(frac[0]) > 0.5 and np.mean(pred[0][off[0]]) > 0.5
    mats = board.matrices()
    assert mats["models"] == board.models and mats["win_fraction"][0][0] is None


def test_json_and_csv(rows: list[dict]) -> None:
    import csv
    import io
    import json

    board = leaderboard(rows)
    assert json.loads(board.to_json()) == board.rows
    parsed = list(csv.DictReader(io.StringIO(board.to_csv())))
    assert [p["model"] for p in parsed] == [r["model"] for r in board.rows]
    assert float(parsed[0]["style_rating"]) == board.rows[0]["style_rating"]


def test_category_and_flags(rows: list[dict]) -> None:
    tagged = [dict(r, category="coding" if i % 2 else "chat") for i, r in enumerate(rows)]
    tagged[0]["flags"] = ["identity_revealed"]
    board = leaderboard(tagged, category="coding")
    assert board.n_battles == 3_000 and board.excluded == {"category": 2_999, "flagged": 1}
    assert leaderboard(tagged, include_flagged=True).n_battles == 6_000


def test_unknown_winner_and_self_battles_name_the_rows(rows: list[dict]) -> None:
    bad = [dict(r) for r in rows[:50]]
    bad[3]["winner"] = "draw"
    bad[7]["model_b"] = bad[7]["model_a"]
    with pytest.raises(RatingError) as err:
        leaderboard(bad)
    assert "row 4: field 'winner': unknown label 'draw'" in str(err.value)
    assert "row 8: self-battle" in str(err.value)
    with pytest.warns(RatingWarning, match="2 of 50 rows are invalid"):
        assert leaderboard(bad, on_invalid="skip").n_battles == 48


def test_empty_input() -> None:
    with pytest.raises(RatingError, match="no battles"):
        leaderboard([])
    only_flagged = [{"model_a": "a", "model_b": "b", "winner": "tie", "flags": ["identity_revealed"]}]
    with pytest.raises(RatingError, match=r"no battles left to rate \(excluded: 1 flagged\)"):
        leaderboard(only_flagged, style_control=False)


def test_single_vote_models_are_rated_with_a_warning(rows: list[dict]) -> None:
    extra = rows + [{**rows[0], "model_a": "newcomer", "winner": "model_a"}]
    with pytest.warns(RatingWarning) as record:
        board = leaderboard(extra)
    messages = [str(w.message) for w in record]
    assert any("single vote" in m and "newcomer" in m for m in messages)
    assert any("never lost, or never won" in m for m in messages)  # 1-0: only a lower bound
    new = next(r for r in board.rows if r["model"] == "newcomer")
    assert new["votes"] == 1 and math.isfinite(new["rating"])
    # 1-0: the votes bound only the newcomer's rating from below: its interval is not determined ...
    assert new["ci_low"] is None and new["ci_high"] is None
    assert any("newcomer" in m and "interval not determined" in m and "the other 6 are rated with intervals" in m
               for m in messages)
    # ... while the others keep finite intervals, on a scale with mean 1000 over them (the determined models)
    others = [r for r in board.rows if r["model"] != "newcomer"]
    assert all(r["ci_low"] < r["rating"] < r["ci_high"] for r in others)
    assert abs(sum(r["rating"] for r in others) / len(others) - 1000.0) < 0.05
    # and equal the fit without the newcomer's vote (its one battle says nothing about their differences)
    without = {r["model"]: r for r in leaderboard(rows, style_control=False).rows}
    for r in others:
        assert abs(r["rating"] - without[r["model"]]["rating"]) < 0.05
        assert abs(r["ci_high"] - r["ci_low"] - (without[r["model"]]["ci_high"] - without[r["model"]]["ci_low"])) < 0.5
    assert any("style-controlled rating is not determined" in m and "raw rating only" in m for m in messages)
    assert "style_rating" not in new and board.style is None
    assert any("newcomer" in w for w in board.warnings)


def test_disconnected_graph_is_an_error_naming_the_parts_or_rates_the_largest(rows: list[dict]) -> None:
    island = [
        {"model_a": "isle-1", "model_b": "isle-2", "winner": "model_a"},
        {"model_a": "isle-2", "model_b": "isle-1", "winner": "model_a"},
    ]
    data = [dict(r) for r in rows] + [dict(r, conv_metadata=rows[0]["conv_metadata"]) for r in island]
    with pytest.raises(RatingError) as err:
        leaderboard(data)
    msg = str(err.value)
    assert "2 disconnected parts" in msg and "part 2 (2 models): isle-1, isle-2" in msg
    with pytest.warns(RatingWarning, match="leaving out 2: isle-1, isle-2"):
        board = leaderboard(data, connected="largest")
    assert {r["model"] for r in board.rows} == {f"model-{i:03d}" for i in range(6)}


def test_bootstrap_leaderboard_is_reproducible(rows: list[dict]) -> None:
    a = leaderboard(rows, ci="bootstrap", rounds=40, seed=5)
    b = leaderboard(rows, ci="bootstrap", rounds=40, seed=5)
    assert a.rows == b.rows and a.raw.rounds == 40 and a.style is not None and a.style.rounds == 40


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 3),
            st.integers(0, 3),
            st.lists(st.integers(0, 3), min_size=10, max_size=10),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_never_nan_or_traceback_on_random_small_battle_sets(battles: list) -> None:
    """Any small battle set yields finite numbers everywhere, or a RatingError with a message."""
    keep = [(a, b, o, c) for a, b, o, c in battles if a != b]
    if not keep:
        return
    a, b, o, c = (np.array(col) for col in zip(*keep, strict=True))
    table = BattleTable.from_arrays([f"m{i}" for i in range(4)], a, b, o, c.reshape(-1, 2, 5).astype(float))
    table = table.subset(np.ones(len(a), dtype=bool))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RatingWarning)
        try:
            board = leaderboard(table, connected="largest", elo=True)
        except RatingError as err:
            assert str(err)
            return
    for row in board.rows:
        for key, value in row.items():
            if key != "model" and not (key.endswith(("ci_low", "ci_high")) and value is None):
                assert math.isfinite(value), (key, row)
        for view in ("", "style_"):
            low, high = row.get(f"{view}ci_low"), row.get(f"{view}ci_high")
            if low is not None and high is not None:  # None: unbounded (not determined by the votes)
                assert high - low > 1.0, row  # never a zero-width interval
    coefs = board.style_coefficients
    assert all(math.isfinite(v) for c in coefs for v in (c["coef"], c["ci_low"], c["ci_high"]))


def _variant_battles(winners: list[str]) -> list[dict]:
    """Votes between the two bundled variants, as the arena stores them (style counts from real answers)."""
    answers = [("**Paris** is the capital of France.\n- old\n- big", "Paris."), ("It is 4, **surely**.", "4"),
               ("# Answer\nA long, long answer " * 3, "short")]
    out = []
    for i, w in enumerate(winners):
        text_a, text_b = answers[i % len(answers)]
        conv_a = [{"role": "user", "content": "q"}, {"role": "assistant", "content": text_a}]
        conv_b = [{"role": "user", "content": "q"}, {"role": "assistant", "content": text_b}]
        out.append({"model_a": "smollm2-q8", "model_b": "smollm2-q4", "winner": w, "conversation_a": conv_a,
                    "conversation_b": conv_b, "conv_metadata": compute_conv_metadata(conv_a, conv_b)})
    return out


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_three_votes_give_no_style_controlled_rating_and_an_honest_raw_interval(ci: str) -> None:
    """Issue 11.4: 3 votes showed a style-controlled 1000 with CI 1000 - 1000 for both variants."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RatingWarning)
        board = leaderboard(_variant_battles(["model_a", "model_b", "tie"]), ci=ci, rounds=50)
    assert board.style is None  # 2 strengths + 4 style features from 3 votes: not determined
    assert any("not determined by these 3 battles" in w and "raw rating only" in w for w in board.warnings)
    for row in board.rows:
        assert "style_rating" not in row and "style_ci_low" not in row
        assert row["ci_high"] - row["ci_low"] > 100  # 3 votes: hundreds of points either way
    assert not any("style" in r for r in board.to_json().split('"model"')[1:])


def test_style_control_is_kept_when_the_votes_determine_it(rows: list[dict]) -> None:
    board = leaderboard(rows)
    assert board.style is not None and not any("not determined" in w for w in board.warnings)
    assert all(r["style_ci_high"] - r["style_ci_low"] > 1.0 for r in board.rows)
