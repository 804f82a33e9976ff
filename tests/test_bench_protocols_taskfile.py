"""Protocols on a task declared in a task file (issue 12): `audit protocols --task-file` and `claims check
--task-file` end to end on the scripted echo server, with a protocol of the user's own (`--protocol-file`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_fixtures import registry_toml, write_jsonl
from glassboard.bench.protocol import load_file
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer

# The echo server answers with the prompt; options come first, so each question's last line is the "answer".
# Rows 0, 1: "Answer: X" (glassboard's strict form), right then wrong; rows 2, 3: "The answer is (X)", which only
# the user's own protocol reads (its ladder: "answer is (X)", then "Answer: X"), both right.
ROWS = [("Answer: B", 1), ("Answer: A", 2), ("The answer is (C)", 2), ("The answer is (A)", 0)]
TASK = ('name = "colours"\nkind = "multiple-choice"\ndata = "mine.jsonl"\n[fields]\nquestion = "q"\n'
        'options = "opts"\nanswer = "a"\nanswer_form = "index"\nid = "qid"\n[prompt]\n'
        'template = "{options}\\n\\n{question}"\nshuffle = false\n')
MINE = ('name = "answer-is"\ntask = "colours"\nversion = 1\n[source]\nrepository = "test"\n[prompt]\n'
        'question = "{options}\\n\\n{question}"\noption = "{letter}) {text}"\n'
        '[[ladder]]\nid = "answer-is"\nregex = "answer is \\\\(?([A-J])\\\\)?"\npick = "last"\nflags = ["IGNORECASE"]\n'
        '[[ladder]]\nid = "answer-colon"\nregex = "Answer: ([A-J])"\npick = "last"\n'
        '[scoring]\nnormaliser = "letter"\n')


def write_task(tmp_path: Path) -> tuple[Path, Path]:
    write_jsonl(tmp_path / "mine.jsonl", [{"qid": f"q{i}", "q": f"Which colour is {i}?\n{said}",
                                           "opts": ["red", "green", "blue"], "a": right}
                                          for i, (said, right) in enumerate(ROWS)])
    (tmp_path / "colours.toml").write_text(TASK, encoding="utf-8")
    (tmp_path / "answer-is.toml").write_text(MINE, encoding="utf-8")
    return tmp_path / "colours.toml", tmp_path / "answer-is.toml"


def invoke(tmp_path: Path, server: ScriptedServer, *args: str):
    config = registry_toml(tmp_path / "models.toml", server.base_url("echo"))
    return CliRunner().invoke(app, [*args, "--config", str(config), "--log-dir", str(tmp_path / "runs")],
                              env={"COLUMNS": "200"})


def test_audit_protocols_on_a_task_file(tmp_path: Path) -> None:
    task, mine = write_task(tmp_path)
    out, only = tmp_path / "sens.json", tmp_path / "only.json"
    with ScriptedServer() as server:
        result = invoke(tmp_path, server, "audit", "protocols", "scripted", "--task-file", str(task),
                        "--protocol-file", str(mine), "--json", str(out))
        # No --protocols and no --protocol-file: the task's own protocol alone (a task file has no built-ins).
        alone = invoke(tmp_path, server, "audit", "protocols", "scripted", "--task-file", str(task),
                       "--json", str(only))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["task"] == "colours" and report["questions"] == 4
    first, second = report["protocols"]
    assert first["protocol"]["name"] == "glassboard" and first["accuracy"] == pytest.approx(1 / 4)
    assert second["protocol"]["name"] == "answer-is" and second["accuracy"] == pytest.approx(3 / 4)
    assert second["protocol"]["sha256"] == load_file(mine).sha256
    assert first["unparsed_rate"] == pytest.approx(2 / 4) and second["unparsed_rate"] == pytest.approx(0)
    assert second["diff_vs_first"]["n"] == 4 and second["diff_vs_first"]["diff"] == pytest.approx(2 / 4)
    assert second["diff_vs_first"]["ci_low"] < 2 / 4 < second["diff_vs_first"]["ci_high"]
    assert report["largest_gap"] == {"gap": pytest.approx(0.5), "highest": "answer-is", "lowest": "glassboard"}
    assert "largest gap: 0.500 (answer-is above glassboard)" in result.output
    assert alone.exit_code == 0, alone.output
    assert [r["protocol"]["name"] for r in json.loads(only.read_text())["protocols"]] == ["glassboard"]


def test_claims_check_on_a_task_file(tmp_path: Path) -> None:
    task, mine = write_task(tmp_path)
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nmodel = "scripted"\ntask = "colours"\nvalue = "75%"\nprotocol = "answer-is"\n'
                      'source = "https://example.org/card"\ndate = "2025-05-01"\n'
                      '[[claim]]\nmodel = "scripted"\ntask = "colours"\nvalue = 0.25\n', encoding="utf-8")
    out = tmp_path / "claims.json"
    with ScriptedServer() as server:
        result = invoke(tmp_path, server, "claims", "check", str(claims), "--task-file", str(task),
                        "--protocol-file", str(mine), "--json", str(out))
    assert result.exit_code == 0, result.output
    first, second = json.loads(out.read_text())["claims"]
    assert first["task"] == "colours" and first["protocol"]["name"] == "answer-is"
    assert first["measured"]["accuracy"] == pytest.approx(3 / 4) and first["measured"]["n"] == 4
    assert first["glassboard"]["strict"]["accuracy"] == pytest.approx(1 / 4)
    assert first["verdicts"]["answer-is"] == "consistent"
    assert second["protocol"]["name"] == "glassboard" and second["measured"]["accuracy"] == pytest.approx(1 / 4)
    assert "colours claimed 0.750 under answer-is" in result.output


def test_claims_naming_an_undeclared_task_or_protocol_are_clear(tmp_path: Path) -> None:
    task, _ = write_task(tmp_path)
    claims = tmp_path / "claims.csv"
    claims.write_text("model,task,value,protocol\nscripted,colours,0.5,glassboard\nscripted,shapes,0.5,glassboard\n",
                      encoding="utf-8")
    with ScriptedServer() as server:
        undeclared = invoke(tmp_path, server, "claims", "check", str(claims), "--task-file", str(task))
        claims.write_text("model,task,value,protocol\nscripted,colours,0.5,answer-is\n", encoding="utf-8")
        no_protocol = invoke(tmp_path, server, "claims", "check", str(claims), "--task-file", str(task))
    assert undeclared.exit_code == 2
    assert "claims.csv line 3: unknown task 'shapes'" in undeclared.output
    assert "--task-file" in undeclared.output and not (tmp_path / "runs").exists()  # checked before any run
    assert no_protocol.exit_code == 2
    assert "claims.csv line 2: unknown protocol 'answer-is' for task colours" in no_protocol.output
