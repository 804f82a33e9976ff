"""`glassboard rate`: formats, options and clean errors (no tracebacks), via Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.cli import app
from glassboard.rating.battles import write_battles
from glassboard.rating.synth import synthetic_battles
from rating_synth import rows_from_table

runner = CliRunner()


@pytest.fixture(scope="module")
def battle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table, _ = synthetic_battles(4_000, 5, seed=31, style_coef=[0.5, 0.1, 0.1, 0.1, 0.4])
    rows = rows_from_table(table)
    rows[0]["flags"] = ["identity_revealed"]
    rows[1]["category"] = "coding"
    path = tmp_path_factory.mktemp("rate") / "battles.parquet"
    write_battles(rows, path)
    return path


def _run(*args: str):
    result = runner.invoke(app, ["rate", *args])
    assert "Traceback" not in result.output
    return result


def test_table_output_shows_both_views(battle_file: Path) -> None:
    result = _run(str(battle_file))
    assert result.exit_code == 0, result.output
    assert "3,999 battles, 5 models" in result.output
    assert "style ctrl" in result.output and "Style coefficients" in result.output
    assert all(f"model-00{i}" in result.output for i in range(5))
    assert "excluded: 1 flagged" in result.output


def test_json_output_keys(battle_file: Path) -> None:
    result = _run(str(battle_file), "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 5
    keys = {"model", "rating", "ci_low", "ci_high", "rank", "rank_ub", "votes"}
    style_keys = {"style_rating", "style_ci_low", "style_ci_high", "style_rank"}
    assert keys | style_keys <= set(rows[0])
    plain = json.loads(_run(str(battle_file), "--format", "json", "--no-style-control").stdout)
    assert set(plain[0]) == keys


def test_csv_bootstrap_and_files(battle_file: Path, tmp_path: Path) -> None:
    out, plot, mats = tmp_path / "board.csv", tmp_path / "ci.png", tmp_path / "m.json"
    args = [str(battle_file), "--format", "csv", "--ci", "bootstrap", "--rounds", "30", "--seed", "3"]
    result = _run(*args, "--out", str(out), "--plot", str(plot), "--matrices", str(mats))
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("model,rating,ci_low,ci_high,rank,rank_ub,votes,style_rating") and len(lines) == 6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads(mats.read_text())["battle_counts"]) == 5
    again = tmp_path / "again.csv"
    assert _run(*args, "--out", str(again)).exit_code == 0
    assert again.read_text() == out.read_text()  # seeded: the same numbers


def test_options_reach_the_library(battle_file: Path) -> None:
    result = _run(str(battle_file), "--format", "json", "--anchor", "model-001", "--anchor-rating", "1500", "--elo")
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert rows["model-001"]["rating"] == 1500.0 and "elo" in rows["model-001"]
    coding = _run(str(battle_file), "--category", "coding", "--no-style-control", "--format", "json")
    assert coding.exit_code == 0 and "single vote" in coding.stderr
    assert [r["votes"] for r in json.loads(coding.stdout)] == [1, 1]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "contains no battles"),
        ('{"model_a": "a", "model_b": "b", "winner": "draw"}\n', "row 1: field 'winner': unknown label 'draw'"),
        ('{"model_a": "a", "model_b": "a", "winner": "tie"}\n', "row 1: self-battle"),
        ("not json\n", "row 1: invalid JSON"),
    ],
)
def test_bad_files_exit_2_with_a_message(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    result = _run(str(path))
    assert result.exit_code == 2
    assert needle in " ".join(result.output.split())
    assert "error:" in result.output


def test_missing_file_and_disconnected_graph(tmp_path: Path) -> None:
    assert "no such file" in _run(str(tmp_path / "nope.jsonl")).output
    path = tmp_path / "split.jsonl"
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "model_a"},
        {"model_a": "b", "model_b": "a", "winner": "model_a"},
        {"model_a": "c", "model_b": "d", "winner": "tie"},
    ]
    write_battles(rows, path)
    result = _run(str(path), "--no-style-control")
    assert result.exit_code == 2 and "2 disconnected parts" in result.output
    result = _run(str(path), "--no-style-control", "--largest-component", "--format", "json")
    assert result.exit_code == 0 and "warning:" in result.output and "leaving out 2: c, d" in result.output


def test_library_imports_no_server_or_cli_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys, glassboard.rating.leaderboard, glassboard.rating.columnar, glassboard.rating.elo\n"
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'typer', 'uvicorn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_three_votes_rate_raw_only_and_say_why(tmp_path: Path) -> None:
    """Issue 11.4: 3 votes between two models; style control is not determined, 2-0 raw has no finite bound."""
    def conv(text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]

    answers = [("**a** long\n- list\n- answer", "ok"), ("# Head\nsome **bold** words", "fine"), ("plain", "a b c")]
    rows = [{"model_a": "q8", "model_b": "q4", "winner": w, "conversation_a": conv(a), "conversation_b": conv(b)}
            for w, (a, b) in zip(("model_a", "model_b", "tie"), answers, strict=True)]
    path = tmp_path / "three.jsonl"
    write_battles(rows, path)
    result = _run(str(path))
    assert result.exit_code == 0, result.output
    assert "not determined by these 3 battles" in result.output and "raw rating only" in result.output
    assert "style ctrl" not in result.output and "-0.0 / +0.0" not in result.output
    rows_json = json.loads(_run(str(path), "--format", "json").stdout)
    assert all("style_rating" not in r and r["ci_high"] - r["ci_low"] > 100 for r in rows_json)
    write_battles(rows[:1] * 2, path)  # q8 won both: its lead is unbounded
    result = _run(str(path))
    assert result.exit_code == 0 and "not determined" in result.output
    assert all(r["ci_low"] is None for r in json.loads(_run(str(path), "--format", "json").stdout))
