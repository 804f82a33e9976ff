"""`glassboard report` and `glassboard reproduce` on real inputs of each kind (no model: battles, audits of
battles, and an eval run against the scripted loopback server); the page in real Chromium with JavaScript off."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_fixtures import gsm8k_rows, mmlu_pro_rows, registry_toml, write_jsonl
from glassboard.audit.miniature import simulated_votes
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer
from glassboard.report.manifest import read_manifest
from glassboard.store.battles import Store

runner = CliRunner()
WORDS = ("hello", "there", "friend", "good", "morning", "great", "day", "to", "you", "and")


class Links(HTMLParser):
    """Every src/href/xlink:href value and every tag name of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action", "srcset")]


def answer(rng: random.Random, fancy: float) -> str:
    """An answer whose style features vary independently; `fancy` is the chance of each decoration."""
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
    if rng.random() < fancy:
        text = "# Title\n" + text
    if rng.random() < fancy:
        text += "\n- one\n- two"
    if rng.random() < fancy:
        text = text.replace(" ", " **bold** ", 1)
    return text + " 🎉" * (rng.randint(1, 4) if rng.random() < fancy else 0)


def battles(path: Path) -> Path:
    """Simulated style-loving voters judge three models that differ only in style: chat-exp decorates most."""
    rng = random.Random(5)
    models = {"released": 0.1, "other": 0.3, "chat-exp": 0.8}
    rows = []
    for k, (a, b) in enumerate([("released", "chat-exp"), ("released", "other"), ("other", "chat-exp")]):
        answers_a = [(f"p{i}", answer(rng, models[a])) for i in range(40)]
        answers_b = [(f"p{i}", answer(rng, models[b])) for i in range(40)]
        rows += simulated_votes(answers_a, answers_b, (a, b), voters=6, seed=k)
    return write_jsonl(path, rows)


@pytest.fixture()
def echo() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def report(tmp_path: Path, *inputs: str, name: str = "report.html") -> tuple[str, dict]:
    out = tmp_path / "out" / name
    result = runner.invoke(app, ["report", *inputs, "--out", str(out), "--title", "test report"])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    links = Links()
    links.feed(html)
    assert not [u for u in links.urls if re.match(r"\s*(https?:)?//", u)], links.urls  # nothing to fetch
    assert "svg" in links.tags and "table" in links.tags
    manifest = read_manifest(out)
    assert manifest == json.loads(out.with_name(out.stem + ".manifest.json").read_text())  # embedded == beside
    return html, manifest


def test_report_from_a_battle_file_alone_flags_style_and_reproduces_exactly(tmp_path: Path) -> None:
    path = battles(tmp_path / "battles.jsonl")
    html, manifest = report(tmp_path, str(path))
    assert 'id="leaderboards"' in html and "style-controlled" in html and re.search(r"<title[^>]*>Ratings of", html)
    assert re.search(r"rank of \S+ from style", html)  # the summary line on top
    step = manifest["steps"][0]
    assert step["command"][:3] == ["glassboard", "audit", "style"] and step["deterministic"]
    assert step["inputs"] == {str(path): __import__("hashlib").sha256(path.read_bytes()).hexdigest()}
    labels = {n["label"] for n in manifest["numbers"]}
    assert {"released raw rating", "chat-exp style-controlled rating"} <= labels
    shown = re.findall(r'data-number="([^"]+)"', html)
    assert sorted(shown) == sorted(n["id"] for n in manifest["numbers"])  # every number carries its manifest id
    same = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "report.html")])
    assert same.exit_code == 0, same.output
    assert "DISAGREE" not in same.output and f"{len(manifest['numbers'])} of {len(manifest['numbers'])}" in same.output
    # Tamper with the input: ten votes for 'other' become votes against it.
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    flipped = 0
    for row in rows:
        if "other" in (row["model_a"], row["model_b"]) and flipped < 10:
            row["winner"] = "model_b" if row["model_a"] == "other" else "model_a"
            flipped += 1
    write_jsonl(path, rows)
    changed = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "report.manifest.json")])
    assert changed.exit_code == 1, changed.output
    assert f"input changed: {path}" in changed.output
    assert re.search(r"DISAGREE +other raw rating: old [\d.]+ new [\d.]+ \(exact\)", changed.output), changed.output


def test_report_from_an_arena_database_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store(url)
    store.import_file(str(battles(tmp_path / "b.jsonl")))
    store.close()
    html, manifest = report(tmp_path, url)
    assert 'id="leaderboards"' in html and url in html
    assert manifest["steps"][0]["command"][3:5] == ["--db", url] and url in manifest["steps"][0]["inputs"]
    result = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "report.html")])
    assert result.exit_code == 0, result.output


def test_report_from_audit_jsons_each_alone(tmp_path: Path) -> None:
    path = battles(tmp_path / "battles.jsonl")
    sections = {"style": "leaderboards", "selection": "selection"}
    for audit, section in sections.items():
        out = tmp_path / f"{audit}.json"
        result = runner.invoke(app, ["audit", audit, str(path), "--json", str(out)])
        assert result.exit_code == 0, result.output
        html, manifest = report(tmp_path, str(out), name=f"{audit}.html")
        assert f'id="{section}"' in html and manifest["numbers"]
    result = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "selection.html")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "manipulation.json"
    result = runner.invoke(app, ["audit", "manipulation", str(path), "--target", "other", "--budget", "60",
                                 "--seeds", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    html, manifest = report(tmp_path, str(out), name="manipulation.html")
    assert 'id="manipulation"' in html and "<polyline" in html and "(log scale)" in html
    assert manifest["steps"][0]["deterministic"] and manifest["steps"][0]["seeds"] == {"seed": 0, "seeds": 2}


def test_report_from_a_contamination_json_records_its_data_and_reproduces(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "mmlu.jsonl", mmlu_pro_rows(6))
    with ScriptedServer(answer="Answer: A") as server:
        config = registry_toml(tmp_path / "glassboard.toml", server.base_url("ok"))
        out = tmp_path / "contamination.json"
        result = runner.invoke(app, ["audit", "contamination", "scripted", "--task", "mmlu-pro", "--data", str(data),
                                     "--limit", "5", "--probes", "ts_guessing,shuffle", "--config", str(config),
                                     "--json", str(out)])
        assert result.exit_code == 0, result.output
        recorded = json.loads(out.read_text())
        assert recorded["data"]["sha256"] and recorded["data"]["items"] == 5
        report_html = tmp_path / "out" / "contamination.html"
        built = runner.invoke(app, ["report", str(out), "--out", str(report_html), "--config", str(config)])
        assert built.exit_code == 0, built.output
        html, manifest = report_html.read_text(), read_manifest(report_html)
        assert 'id="contamination"' in html and "TS-Guessing" in html and "option-order shuffle" in html
        step = manifest["steps"][0]
        assert step["command"][:4] == ["glassboard", "audit", "contamination", "scripted"]
        assert ["--limit", "5"] == step["command"][8:10] and "--probes" in step["command"]
        assert step["inputs"][f"data {recorded['data']['source']}"] == recorded["data"]["sha256"]
        again = runner.invoke(app, ["reproduce", str(report_html)])
        assert again.exit_code == 0 and "DISAGREE" not in again.output, again.output
    del recorded["data"]  # a JSON from before the data file was recorded: listed, not re-runnable
    out.write_text(json.dumps(recorded))
    _, manifest = report(tmp_path, str(out), name="old-contamination.html")
    assert manifest["steps"][0]["command"] is None
    old = runner.invoke(app, ["reproduce", str(tmp_path / "out" / "old-contamination.html")])
    assert old.exit_code == 1 and "not re-runnable" in old.output and "DISAGREE" in old.output


def test_report_from_an_eval_summary_and_its_run_log_reproduces_within_the_interval(
        tmp_path: Path, echo: ScriptedServer) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6))
    config = registry_toml(tmp_path / "glassboard.toml", echo.base_url("echo"))
    result = runner.invoke(app, ["eval", "scripted", "--task", "gsm8k", "--data", str(data), "--config", str(config),
                                 "--claim", "0.9", "--json", str(tmp_path / "eval.json"), "--no-progress",
                                 "--log-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "report.html"
    built = runner.invoke(app, ["report", str(tmp_path / "eval.json"), "--out", str(out), "--config", str(config)])
    assert built.exit_code == 0, built.output
    html = out.read_text()
    assert 'id="claims"' in html and "the measured score is below the claim" in html  # 0.9 claimed, 2/6 strict
    manifest = read_manifest(out)
    step = manifest["steps"][0]
    assert step["command"][:3] == ["glassboard", "eval", "scripted"] and not step["deterministic"]
    assert any(key.startswith("run log ") for key in step["inputs"])
    by_path = {n["path"]: n for n in manifest["numbers"]}
    assert by_path["strict.accuracy"]["value"] == pytest.approx(2 / 6)
    assert by_path["lenient.accuracy"]["value"] == pytest.approx(4 / 6)
    again = runner.invoke(app, ["reproduce", str(out)])
    assert again.exit_code == 0, again.output
    assert "within [" in again.output
    log = next((tmp_path / "runs" / "gsm8k").glob("*.jsonl"))
    alone, _ = report(tmp_path, str(log), name="log.html")
    assert 'id="claims"' in alone


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"hello": 1}', "not a glassboard output the report knows"),
        ("{not json", "line 1: malformed JSON"),
        (None, "report input not found"),
        ('{"audit": "nonesuch", "cells": []}', "no section renders 'audit:nonesuch' outputs yet"),
        ('{"audit": "context", "cells": []}', "not an `audit context --json` output: missing model, lengths"),
        ('{"judge": {}, "baseline": {}, "models": [{}], "audit": {}}',
         "not a `judge run --json` output: missing judge.name, baseline.name, models[0].model"),
    ],
)
def test_bad_inputs_name_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["report", str(path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and message in result.output and "x.json" in result.output, result.output
    assert "Traceback" not in result.output


def test_reproduce_rejects_what_is_not_a_report(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><body>hello</body></html>")
    result = runner.invoke(app, ["reproduce", str(page)])
    assert result.exit_code == 2 and "no embedded glassboard manifest" in result.output
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"manifest": 1, "steps": [{"id": "a"}], "numbers": []}))
    result = runner.invoke(app, ["reproduce", str(manifest)])
    assert result.exit_code == 2 and "m.json: manifest step 1: missing field(s) command" in result.output
    manifest.write_text(json.dumps({"manifest": 1, "steps": [], "numbers": []}))
    result = runner.invoke(app, ["reproduce", str(manifest), "--limit-steps", "nope"])
    assert result.exit_code == 2 and "--limit-steps: unknown step(s) nope" in result.output


def test_report_in_chromium_without_javascript_or_network(tmp_path: Path, chromium_path: str) -> None:
    from playwright.sync_api import sync_playwright

    report(tmp_path, str(battles(tmp_path / "battles.jsonl")))
    url = (tmp_path / "out" / "report.html").as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        assert requests == [url]  # the file itself and nothing else
        assert not errors
        assert page.locator("#leaderboards table tbody tr").count() == 3
        assert (page.locator("#leaderboards svg title").first.text_content() or "").startswith("Ratings of")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
