"""Report sections for the features that landed after the report (issue 17's gaps): `audit context --json`,
`judge run --json` and the defended leaderboard of an arena database, each from that input kind alone, with its
manifest step re-run by `glassboard reproduce` against real loopback servers and a real SQLite arena."""

from __future__ import annotations

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
    again = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "context.html")])
    assert again.exit_code == 0, again.output
    assert f"{len(manifest['numbers'])} of {len(manifest['numbers'])} numbers agree" in again.output
