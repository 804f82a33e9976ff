"""Report sections for the features that landed after the report (issue 17's gaps): `audit context --json`,
`judge run --json` and the defended leaderboard of an arena database, each from that input kind alone, with its
manifest step re-run by `glassboard reproduce` against real loopback servers and a real SQLite arena."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer
from test_report import report

runner = CliRunner(env={"COLUMNS": "200"})


def test_report_from_an_audit_context_json_alone_has_heatmaps_and_reproduces(
        scripted_server: ScriptedServer, tmp_path: Path) -> None:
    config = tmp_path / "glassboard.toml"
    config.write_text(f'[models.endpoint]\nbackend = "openai"\nmodel = "m"\n'
                      f'base_url = "{scripted_server.base_url("forget3000")}"\nclaimed_context = "8k"\n')
    out = tmp_path / "context.json"
    result = runner.invoke(app, ["audit", "context", "endpoint", "--lengths", "1k,4k", "--depths", "0,0.5,1",
                                 "--tasks", "niah_single,nolima", "--samples", "1", "--config", str(config),
                                 "--log-dir", str(tmp_path / "runs"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    html, manifest = report(tmp_path, str(out), "--config", str(config), name="context.html")
    assert 'id="context"' in html and "falls short at 4096" in html and "claimed 8192" in html
    titles = re.findall(r"<title[^>]*>([^<]+)</title>", html)
    assert {"endpoint · niah_single: accuracy by needle depth and prompt length",
            "endpoint · nolima: accuracy by needle depth and prompt length"} <= set(titles)
    assert re.search(r"<desc[^>]*>endpoint, task niah_single: length 1024 depth 0: 1\.00", html)
    labels = {n["label"]: n for n in manifest["numbers"]}
    assert labels["endpoint effective length"]["value"] == 1024
    assert labels["endpoint accuracy at 4096"]["ci_low"] is not None
    step = manifest["steps"][0]
    assert step["command"][:4] == ["glassboard", "audit", "context", "endpoint"] and "{tmp}" in step["command"]
    # The re-run uses the audit's own depth sweep (the default, shared), and the page says which one it was.
    assert step["command"][step["command"].index("--sweep") + 1] == "shared" and "shared sweep" in html
    again = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "context.html")])
    assert again.exit_code == 0, again.output
    assert f"{len(manifest['numbers'])} of {len(manifest['numbers'])} numbers agree" in again.output


def test_report_from_a_judge_run_json_alone_has_the_judged_board_and_audit_and_reproduces(tmp_path: Path) -> None:
    from glassboard.judge.scripted import build_app
    from judge_fixtures import scripted_registry, write_prompts

    prompts = write_prompts(tmp_path / "prompts.jsonl", 40)
    with ScriptedServer(app=build_app()) as server:
        scripted_registry(tmp_path / "glassboard.toml", server.port,
                          {"base": ("q=0;words=40;fam=x", "p-base"), "m1": ("q=0.8;words=40;fam=acme", "acme")},
                          {"positional": ("position=0.8", "p-judge")})
        summary = tmp_path / "judge.json"
        result = runner.invoke(app, ["judge", "run", "--judge", "positional", "--baseline", "base", "--models", "m1",
                                     "--prompts", str(prompts), "--json", str(summary), "--no-progress",
                                     "--config", str(tmp_path / "glassboard.toml"), "--log-dir", str(tmp_path / "l")])
        assert result.exit_code == 0, result.output
        assert json.loads(summary.read_text())["run"]["prompts"]["source"] == str(prompts)
        html, manifest = report(tmp_path, str(summary), "--config", str(tmp_path / "glassboard.toml"),
                                name="judge.html")
        assert 'id="judged"' in html and "Judge audit" in html and "position: A preferred" in html
        assert re.search(r"judge positional&#x27;s biases.*significant: position", html, re.S)
        labels = {n["label"] for n in manifest["numbers"]}
        assert {"m1 win rate vs base", "m1 length-controlled vs base", "m1 style-controlled win rate",
                "judge position: A preferred"} <= labels
        step = manifest["steps"][0]
        assert step["command"][:3] == ["glassboard", "judge", "run"] and str(prompts) in step["command"]
        again = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "judge.html")])
        assert again.exit_code == 0, again.output
        prompts.write_text(prompts.read_text().replace("Question number 3", "Question number 33"))
        changed = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "judge.html")])
    assert f"input changed: {prompts}" in changed.output, changed.output  # named, whatever the numbers do


def test_report_from_an_arena_database_alone_shows_the_defended_board_and_reproduces_exactly(tmp_path: Path) -> None:
    from glassboard.store.battles import Store
    from test_report import battles

    path = battles(tmp_path / "b.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # One voter casts 80 votes for 'released' against everything: the anomaly check flags and excludes them.
    rows += [{**rows[i % 20], "model_a": "released", "model_b": "chat-exp" if i % 2 else "other",
              "winner": "model_a", "voter": "bot"} for i in range(80)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store(url)
    store.import_file(str(path))
    store.close()
    html, manifest = report(tmp_path, url)
    assert 'id="defended"' in html and "defended rating" in html
    labels = {n["label"]: n for n in manifest["numbers"]}
    assert labels[f"votes excluded in {url}"]["value"] == 80 and labels[f"voters flagged in {url}"]["value"] == 1
    assert labels["released defended rating"]["value"] < labels["released raw rating (arena)"]["value"]
    step = next(s for s in manifest["steps"] if s["id"] == "defended")
    assert step["command"][:4] == ["glassboard", "leaderboard", "--db", url] and step["deterministic"]
    again = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "report.html"), "--limit-steps", "defended"])
    assert again.exit_code == 0 and "DISAGREE" not in again.output, again.output
