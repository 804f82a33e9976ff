"""The arena's leaderboard with prompt categories and a judged board, in headless Chromium: the category selector
lists vote counts and changes the table; judge battles get their own labelled board, never the human one."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser
from typer.testing import CliRunner

from arena_fixtures import ArenaServer, scripted_registry, settings_for
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer
from glassboard.rating.battles import write_battles


def _battle(prompt: str, a: str, b: str, winner: str, **extra: object) -> dict:
    conv = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "answer"}]
    return {"model_a": a, "model_b": b, "winner": winner, "conversation_a": conv, "conversation_b": conv, **extra}


def test_category_selector_and_judged_board(browser: Browser, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    # Humans: the coder wins coding prompts, the poet wins poems; 3 models so each board has a third row.
    human = []
    for i in range(12):
        human.append(_battle(f"Write a Python function number {i}", "coder", "poet", "model_a"))
        human.append(_battle(f"Write a poem about the sea, part {i}", "poet", "coder", "model_a"))
        human.append(_battle(f"Write a poem about rain, part {i}", "poet", "clerk", "model_a"))
        human.append(_battle(f"Write a Python script number {i}", "clerk", "coder", "tie"))
    judged = [_battle(f"q{i}", "coder", "base", "model_a" if i % 3 else "model_b", source="judge", judge="grader",
                      judge_variant="abc123", judge_prompt_hash="feedbeef", position="model_first",
                      battle_id=f"judge-{i}") for i in range(20)]
    write_battles(human, tmp_path / "human.jsonl")
    write_battles(judged, tmp_path / "judged.jsonl")
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    runner = CliRunner()
    for path in ("human.jsonl", "judged.jsonl"):
        result = runner.invoke(app, ["battles", "import", str(tmp_path / path), "--db", db])
        assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["battles", "categorize", "--db", db]).exit_code == 0
    registry = scripted_registry(scripted_server, {"m1": "ok", "m2": "ok"})
    with ArenaServer(settings_for(db, registry)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/leaderboard")
        options = page.locator("#category option").all_inner_texts()
        assert options[0] == "All (48 votes)"
        assert "coding (24 votes)" in options and "creative writing (24 votes)" in options
        all_votes = {row.split("\t")[0]: row for row in page.locator("#board tbody tr").all_inner_texts()}
        assert set(all_votes) == {"coder", "poet", "clerk"}
        assert page.locator("#board tbody tr").first.inner_text().startswith("poet")
        # The judged board is separate and labelled; its model "base" never appears on the human board.
        judged_text = page.inner_text("#judged-1")
        assert "Judged by model grader" in judged_text and "Not human votes" in judged_text and "base" in judged_text
        assert "base" not in page.inner_text("#board")
        page.select_option("#category", "coding")
        page.click("#category-show")
        page.wait_for_url("**/leaderboard?category=coding")
        rows = page.locator("#board tbody tr").all_inner_texts()
        # In coding, coder and clerk only tied each other (equal ratings); poet never won, so it is below them.
        assert {r.split("\t")[0] for r in rows[:2]} == {"coder", "clerk"} and len(rows) == 3
        assert "coding" in page.inner_text("#category-note")
        votes = {r.split("\t")[0]: int(r.split("\t")[-1]) for r in rows}
        assert votes == {"coder": 24, "poet": 12, "clerk": 12}
        page.goto(f"{server.url}/leaderboard?category=%3Cscript%3Ewindow.__x%3D1%3C%2Fscript%3E")
        assert "No votes are tagged with the category '<script>" in page.inner_text("main")
        assert page.evaluate("window.__x") is None
        page.close()
