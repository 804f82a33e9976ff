"""Issue 11.4 on the arena board: 3 votes between two variants show no style-controlled rating and no fake interval."""

from __future__ import annotations

from arena_fixtures import (  # noqa: F401 - fixtures
    arena_client,
    db_url_fixture,
    pg_database_fixture,
    scripted_registry,
    settings_for,
)


async def test_three_votes_show_raw_only_with_the_reason(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "echo"})
    async with arena_client(settings_for(db_url, registry, create_per_min_voter=0, vote_per_min_voter=0)) as client:
        for i, winner in enumerate(("model_a", "model_b", "tie")):
            await client.battle(f"question {i}", winner)
        board = (await client.http.get("/api/leaderboard")).json()
        assert board["rated_votes"] == 3 and len(board["rows"]) == 2
        for row in board["rows"]:
            assert "style_rating" not in row and "style_ci_low" not in row
            low, high = row["ci_low"], row["ci_high"]
            assert (low is None and high is None) or high - low > 100  # never "1000 - 1000"
        assert any("not determined by these 3 battles" in w for w in board["warnings"])
        html = (await client.http.get("/leaderboard")).text
        assert "Style-controlled</th>" not in html and "not determined by these 3 battles" in html
        assert "1000 – 1000" not in html and "NaN" not in html
