"""Protocols from the command line (issue 12): `eval --protocol --claim X@protocol`, `protocols`, `claims check`
and `audit protocols` end to end (scripted loopback server, and the bundled model at a tiny budget)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bench_fixtures import glassboard, gsm8k_rows, registry_toml, write_jsonl
from glassboard.bench.protocol import get_protocol
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_eval_under_a_protocol_reports_protocol_score_and_claim(tmp_path: Path) -> None:
    rows = gsm8k_rows(6)
    rows[0]["question"] += "\n#### 10"  # the echo answers carry GSM8K's own "#### N" for rows 0 and 1
    rows[1]["question"] += "\n#### 11"
    data = write_jsonl(tmp_path / "g.jsonl", rows)
    with ScriptedServer() as server:
        config = registry_toml(tmp_path / "models.toml", server.base_url("echo"))
        out = tmp_path / "out.json"
        result = invoke("eval", "scripted", "--task", "gsm8k", "--data", str(data), "--config", str(config),
                        "--log-dir", str(tmp_path / "runs"), "--claim", "33%@official", "--json", str(out),
                        "--no-progress")
    assert result.exit_code == 0, result.output
    official = get_protocol("gsm8k", "official")
    report = json.loads(out.read_text())
    assert report["protocol"] == {"name": "official", "version": 1, "sha256": official.sha256,
                                  "status": "verified", "source": official.source}
    score = report["protocol_score"]
    assert score["accuracy"] == 2 / 6 and score["unparsed_rate"] == 4 / 6 and score["rungs"] == {"hashes": 2}
    assert score["ci_low"] < 2 / 6 < score["ci_high"]
    assert report["strict"]["accuracy"] == 2 / 6 and report["lenient"]["accuracy"] == 4 / 6
    assert report["claim"]["protocol"] == "official" and report["claim"]["verdict_protocol"] == "consistent"
    assert f"protocol official v1 ({official.short_hash}): 0.333" in result.output
    assert "holds under: official, glassboard strict, glassboard lenient" in result.output
    assert Path(report["log"]).name.endswith(f"-official-{official.short_hash}.jsonl")


def test_protocols_listing_and_clear_errors(tmp_path: Path) -> None:
    listing = invoke("protocols", "--task", "mmlu-pro", "--format", "json")
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.output)
    assert [(r["task"], r["name"]) for r in rows] == [("mmlu-pro", "glassboard"), ("mmlu-pro", "official")]
    assert rows[1]["source"]["repository"] == "TIGER-AI-Lab/MMLU-Pro" and len(rows[1]["sha256"]) == 64
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(2))
    unknown = invoke("eval", "x", "--task", "gsm8k", "--data", str(data), "--protocol", "nope")
    assert unknown.exit_code == 2 and "unknown protocol 'nope' for task gsm8k" in unknown.output
    missing = invoke("eval", "x", "--task", "mmlu-pro", "--protocol", "official")
    assert missing.exit_code == 2 and "pass --fewshot FILE with the MMLU-Pro validation split" in missing.output
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nmodel = "m"\ntask = "gsm8k"\nvalue = "lots"\n', encoding="utf-8")
    bad = invoke("claims", "check", str(claims))
    assert bad.exit_code == 2 and "claims.toml claim 1: field 'value'" in bad.output


def test_sensitivity_and_claims_with_the_bundled_model(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(3))
    out = tmp_path / "sens.json"
    common = ["--data", str(data), "--max-tokens", "8", "--log-dir", str(tmp_path / "runs")]
    audit = glassboard("audit", "protocols", "smollm2-135m", "--task", "gsm8k", "--protocols", "glassboard,official",
                       *common, "--limit", "2", "--json", str(out), cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    report = json.loads(out.read_text())
    assert [r["protocol"]["name"] for r in report["protocols"]] == ["glassboard", "official"]
    assert report["questions"] == 2 and all(r["n"] == 2 and r["errors"] == 0 for r in report["protocols"])
    first, second = report["protocols"]
    assert first["diff_vs_first"] is None and second["diff_vs_first"]["n"] == 2
    assert report["largest_gap"]["gap"] == abs(first["accuracy"] - second["accuracy"])
    assert "largest gap" in audit.stdout
    claims = tmp_path / "claims.csv"
    claims.write_text("model,task,value,protocol,source,date\nsmollm2-135m,gsm8k,44.2%,official,"
                      "https://example.org/card,2025-01-01\n", encoding="utf-8")
    checked_out = tmp_path / "claims.json"
    checked = glassboard("claims", "check", str(claims), "--data", f"gsm8k={data}", "--limit", "2",
                         "--max-tokens", "8", "--log-dir", str(tmp_path / "runs"), "--json", str(checked_out),
                         cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    row = json.loads(checked_out.read_text())["claims"][0]
    assert row["value"] == 0.442 and row["protocol"]["name"] == "official" and row["measured"]["n"] == 2
    assert set(row["verdicts"]) == {"official", "glassboard strict", "glassboard lenient"}
    assert set(row["verdicts"].values()) <= {"consistent", "below", "above", "unknown"}
    assert "holds under:" in checked.stdout


def test_claim_protocol_must_match_the_run_protocol(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(2))
    result = invoke("eval", "x", "--task", "gsm8k", "--data", str(data), "--protocol", "glassboard",
                    "--claim", "40%@official")
    assert result.exit_code == 2 and "--claim names protocol 'official' but --protocol is 'glassboard'" in result.output
