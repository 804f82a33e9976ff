"""Per-voter anomaly scores and the defended leaderboard: simulated voters with known behaviour (honest BT voters,
targeted attackers, random voters), the documented threshold, and the arena's defended board on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena_fixtures import (  # noqa: F401 - fixtures
    arena_client,
    db_url_fixture,
    pg_database_fixture,
    scripted_registry,
    settings_for,
)
from glassboard.audit.anomaly import TARGET_FOLLOW, defend, table_voters, threshold
from glassboard.audit.attack import Population, simulate
from glassboard.rating.table import BattleTable
from glassboard.schema import WINNERS
from glassboard.store.battles import Store

CODE_TO_WINNER = dict(enumerate(WINNERS))


def test_targeted_attackers_are_caught_and_honest_voters_are_not() -> None:
    caught = honest_flagged = honest = attackers = 0
    for seed in range(3):
        pop = simulate(seed=seed, honest_voters=2000, attackers=40, random_voters=0, votes_per_attacker=40)
        flagged = defend(pop.table, pop.voter_codes, pop.voters).scores.flagged
        caught += int(flagged[pop.kind == 1].sum())
        attackers += int((pop.kind == 1).sum())
        honest_flagged += int(flagged[pop.kind == 0].sum())
        honest += int((pop.kind == 0).sum())
    assert caught / attackers >= 0.9, (caught, attackers)
    assert honest_flagged / honest <= 0.01, (honest_flagged, honest)


def test_flagged_voters_name_their_target_and_reason() -> None:
    pop = simulate(seed=7, honest_voters=500, attackers=5, random_voters=5, votes_per_attacker=400)
    scores = defend(pop.table, pop.voter_codes, pop.voters).scores
    for i in np.flatnonzero(pop.kind == 1):
        assert scores.flagged[i] and scores.reason(int(i)) == "targeted" and scores.target[i] == pop.target
    for i in np.flatnonzero(pop.kind == 2):  # 400 coin flips are far from BT with spread 1
        assert scores.flagged[i] and scores.reason(int(i)) == "random"
    assert scores.reasons() == {"targeted": 5, "random": 5}


def test_threshold_is_ln_of_alternatives_over_alpha() -> None:
    assert threshold(20) == pytest.approx(np.log((1 + len(TARGET_FOLLOW) * 20) / 0.01))
    assert threshold(20, 0.001) > threshold(20)


def test_voters_line_up_with_the_table_rows_of_a_file(tmp_path: Path) -> None:
    rows = [
        {"model_a": "x", "model_b": "y", "winner": "model_a", "voter": "v1"},
        {"model_a": "x", "model_b": "y", "winner": "model_b", "voter": "v2", "flags": ["identity_revealed"]},
        {"model_a": "y", "model_b": "x", "winner": "tie", "voter": "v3"},
        {"model_a": "y", "model_b": "x", "winner": "model_a"},
    ]
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[1:]) + "\n")
    table = BattleTable.read(path)  # the flagged row is left out; the blank line shifts line numbers
    codes, voters = table_voters(path, table)
    assert voters == ["v1", "v3"] and codes.tolist() == [0, 1, -1]
    codes, voters = table_voters(rows, BattleTable.from_battles(rows))
    assert voters == ["v1", "v3"] and codes.tolist() == [0, 1, -1]


def population_rows(pop: Population) -> list[dict]:
    t = pop.table
    return [{"model_a": t.models[a], "model_b": t.models[b], "winner": CODE_TO_WINNER[int(o)],
             "voter": pop.voters[v], "battle_id": f"sim-{i}", "tstamp": 1.7e9 + i}
            for i, (a, b, o, v) in enumerate(zip(t.a.tolist(), t.b.tolist(), t.outcome.tolist(),
                                                 pop.voter_codes.tolist(), strict=True))]


async def test_arena_shows_a_defended_board_without_the_attackers(db_url: str, scripted_server, tmp_path) -> None:
    pop = simulate(seed=3, n_models=6, honest_voters=300, honest_mean_votes=8, attackers=6, random_voters=0,
                   votes_per_attacker=60)
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in population_rows(pop)))
    store = Store(db_url)
    store.import_file(str(path))
    store.close()
    target = pop.table.models[pop.target]
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    async with arena_client(settings_for(db_url, registry)) as client:
        board = (await client.http.get("/api/leaderboard")).json()
        summary = board["defence"]["summary"]
        assert summary["flagged_voters"] == 6 and summary["excluded_votes"] == 6 * 60
        assert summary["by_reason"] == {"targeted": {"voters": 6, "votes": 360}}
        raw = {r["model"]: r for r in board["rows"]}
        defended = {r["model"]: r for r in board["defence"]["rows"]}
        assert sum(r["votes"] for r in defended.values()) == 2 * (len(pop.table) - 360)
        assert raw[target]["rating"] > defended[target]["rating"]  # the attack inflated the raw rating
        assert "style_rating" not in board["rows"][0]  # style control runs on the defended votes only
        html = (await client.http.get("/leaderboard")).text
        assert 'id="defended-board"' in html and "6 flagged as" in html.replace("\n", " ")
        data = (await client.http.get("/api/transparency")).json()
        assert data["excluded"]["summary"]["by_reason"]["targeted"]["votes"] == 360
        page = (await client.http.get("/transparency")).text
        assert 'id="exclusions"' in page and "360" in page
