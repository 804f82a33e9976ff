"""Listings fit pipes and 80-column terminals: no wrapped names, plain text when piped, --format json and csv."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from glassboard.cli.output import Column, Listing, OutputFormat, emit, rich_table, short_hash

LONG = "a-long-model-variant-name-wider-than-a-share"


def glassboard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI as a user pipes it (stdout is a pipe, not a terminal) on an 80-column screen."""
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "glassboard.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def test_models_piped_is_plain_text_one_line_per_variant(tmp_path: Path) -> None:
    result = glassboard("models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "id", "backend", "provider", "public", "weights", "retired"]
    [chat] = [line for line in lines if "chat-exp" in line]  # what `glassboard models | grep chat-exp` finds
    assert chat.split()[0] == "smollm2-135m-chat-exp"
    assert re.search(r" [0-9a-f]{12} ", chat) and not re.search(r"[0-9a-f]{13}", chat)  # short hashes
    assert not any(c in result.stdout for c in "│┃━─┏")  # no box drawing in a pipe


def test_models_json_and_csv_carry_full_values(tmp_path: Path) -> None:
    as_json = json.loads(glassboard("models", "--format", "json", cwd=tmp_path).stdout)
    as_csv = list(csv.DictReader(io.StringIO(glassboard("models", "--format", "csv", cwd=tmp_path).stdout)))
    assert [v["name"] for v in as_json] == [v["name"] for v in as_csv] == ["smollm2-135m", "smollm2-135m-chat-exp"]
    assert len(as_json[1]["weights"]) == len("sha256:") + 64 and as_csv[1]["weights"] == as_json[1]["weights"]
    assert as_json[1]["public"] is False and as_json[1]["id"] == as_csv[1]["id"]


def test_terminal_table_never_wraps_names_in_80_columns() -> None:
    columns = (Column("name", key_column=True), Column("note"), Column("weights", show=short_hash))
    rows = [(LONG, "a long free-text note " * 4, "sha256:" + "ab" * 32), ("short", "n", None)]
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    console.print(rich_table(Listing("variants", columns, rows), 80))
    text = console.file.getvalue()
    assert any(LONG in line for line in text.splitlines())  # the whole name on one line
    assert "abababababab" in text and "ababababababa" not in text
    assert "…" in text  # the note is cut, not wrapped
    assert all(len(line) <= 80 for line in text.splitlines())


def test_emit_json_csv_and_plain_of_the_same_listing() -> None:
    listing = Listing("t", (Column("name", key_column=True), Column("score", justify="right")),
                      [("x,y", 0.5), ("z", None)], notes=["a note"])
    out = io.StringIO()
    emit(listing, OutputFormat.csv, file=out)
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["name", "score"], ["x,y", "0.5"], ["z", ""]]
    out = io.StringIO()
    emit(listing, OutputFormat.json, file=out)
    assert json.loads(out.getvalue()) == [{"name": "x,y", "score": 0.5}, {"name": "z", "score": None}]
    out = io.StringIO()
    emit(listing, OutputFormat.table, file=out)
    assert out.getvalue().splitlines() == ["name  score", "x,y   0.500", "z"]


def test_rate_table_piped_is_grep_able(tmp_path: Path) -> None:
    from glassboard.rating.battles import write_battles
    from glassboard.rating.synth import synthetic_battles
    from rating_synth import rows_from_table

    table, _ = synthetic_battles(600, 3, seed=5)
    path = tmp_path / "battles.jsonl"
    write_battles(rows_from_table(table), path)
    result = glassboard("rate", str(path), "--no-style-control", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["Model", "Rank"] and len(lines) == 4
    assert all(line.split()[0].startswith("model-") for line in lines[1:])
    as_csv = list(csv.DictReader(io.StringIO(glassboard("rate", str(path), "--no-style-control", "--format", "csv",
                                                        cwd=tmp_path).stdout)))
    assert {row["model"] for row in as_csv} == {line.split()[0] for line in lines[1:]}
