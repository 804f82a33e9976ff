"""`GET /api/leaderboard?category=NAME` over real HTTP (uvicorn on loopback): the board of one category's human
votes, the labels with their vote counts, and the same validation and message as the page for an unknown,
over-long or hostile category."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from arena_fixtures import ArenaServer, scripted_registry, settings_for
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer
from glassboard.rating.battles import write_battles


def _battle(prompt: str, a: str, b: str, winner: str) -> dict:
    conv = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "answer"}]
    return {"model_a": a, "model_b": b, "winner": winner, "conversation_a": conv, "conversation_b": conv}


def _categorized_db(tmp_path: Path) -> str:
    battles = []
    for i in range(10):
        battles.append(_battle(f"Write a Python function number {i}", "coder", "poet", "model_a"))
        battles.append(_battle(f"Write a Python script number {i}", "clerk", "coder", "model_b"))
        battles.append(_battle(f"Write a poem about the sea, part {i}", "poet", "coder", "model_a"))
    write_battles(battles, tmp_path / "votes.jsonl")
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["battles", "import", str(tmp_path / "votes.jsonl"), "--db", db])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["battles", "categorize", "--db", db])
    assert result.exit_code == 0, result.output
    return db


def test_api_leaderboard_by_category(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    db = _categorized_db(tmp_path)
    registry = scripted_registry(scripted_server, {"m1": "ok", "m2": "ok"})
    with ArenaServer(settings_for(db, registry)) as server, httpx.Client(base_url=server.url) as http:
        everything = http.get("/api/leaderboard").json()
        assert everything["category"] is None and everything["rated_votes"] == 30
        assert {"name": "coding", "votes": 20} in everything["categories"]
        assert {"name": "creative_writing", "votes": 10} in everything["categories"]

        coding = http.get("/api/leaderboard", params={"category": "coding"})
        assert coding.status_code == 200, coding.text
        body = coding.json()
        assert body["category"] == "coding" and body["votes"] == 20 and body["rated_votes"] == 20
        assert {r["model"]: r["votes"] for r in body["rows"]} == {"coder": 20, "poet": 10, "clerk": 10}
        assert body["rows"][0]["model"] == "coder"  # beat poet 10-0 and lost to clerk 0-10; poet never won
        # The whole board is a different one: coder lost every poem.
        assert {r["model"]: r["votes"] for r in everything["rows"]} == {"coder": 30, "poet": 20, "clerk": 10}

        # Surrounding blanks are trimmed, as on the page; an empty value means every vote.
        assert http.get("/api/leaderboard", params={"category": "  coding "}).json()["category"] == "coding"
        assert http.get("/api/leaderboard", params={"category": ""}).json()["category"] is None

        unknown = http.get("/api/leaderboard", params={"category": "cooking"})
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "No votes are tagged with the category 'cooking'."}
        page = http.get("/leaderboard", params={"category": "cooking"}).text
        assert "No votes are tagged with the category &#39;cooking&#39;." in page  # the same words on the page

        hostile = "<script>x</script>\u202e\x1b[31m" + "A" * 500
        response = http.get("/api/leaderboard", params={"category": hostile})
        assert response.status_code == 404
        message = response.json()["error"]
        assert message == ("No votes are tagged with the category '<script>x</script>\\u202e\\u001b[31m"
                           + "A" * 40 + "'.")  # capped at 64 characters, controls and bidi overrides escaped
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["x-content-type-options"] == "nosniff"
