"""`glassboard demo --quick` end to end with the bundled model (the smallest budget), then its report in real
Chromium (no request but the file, no console error, every section, tables with JavaScript off, a screenshot),
`reproduce` on the fresh demo (every number agrees) and after one input changed (that number is named, exit 1)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SECTIONS = ("summary", "claims", "leaderboards", "defended", "identity", "providers", "context", "contamination",
            "protocols", "selection", "manifest")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "report-demo.png"


def glassboard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "glassboard.cli", *args], cwd=cwd, capture_output=True, text=True,
                          check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "episode"
    done = glassboard("demo", "--quick", "--out", str(out), cwd=out.parent)
    assert done.returncode == 0, done.stderr
    assert "8/8" in done.stderr  # progress went to stderr
    return out


def test_demo_report_lists_the_episode_and_stays_small(demo: Path) -> None:
    html = (demo / "report.html").read_text(encoding="utf-8")
    assert len(html.encode()) < 3_000_000
    summary = html[html.index('id="summary"'):html.index("</section>", html.index('id="summary"'))]
    for line in ("undisclosed chat variant", "came from style", "Inflated benchmark claim", "samples too hot",
                 "truncates answers", "selection bias", "contaminated variant", "long-context claim",
                 "truncates the context"):
        assert line in summary, line
    assert re.search(r"truncates the context</a></td><td><span class=\"caught\">caught</span> · provider-short-ctx: "
                     r"truncated by provider at 1024", summary), summary
    assert re.search(r"test items in its context\)</a></td><td><span class=\"caught\">caught</span> · contamination "
                     r"signal: Min-K%\+\+ gap [\d.]+ vs [\d.]+ for the clean smollm2-135m, difference [\d.]+ "
                     r"\[0\.\d\d, [\d.]+\] on 6 items", summary), summary
    assert summary.count(">caught<") >= 6  # identity, style, claim, providers, selection and contamination
    manifest = json.loads((demo / "report.manifest.json").read_text())
    step = next(s for s in manifest["steps"] if s["id"] == "contamination")
    assert step["command"][:4] == ["glassboard", "audit", "contamination", "smollm2-135m-contaminated"]
    assert any(k.startswith("data mmlu-pro-leaked.jsonl") for k in step["inputs"])
    assert (demo / "report.manifest.json").is_file()


def test_demo_report_in_chromium(demo: Path, chromium_path: str) -> None:
    from playwright.sync_api import sync_playwright

    url = (demo / "report.html").as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requests: list[str] = []
        errors: list[str] = []
        page.route("**/*", lambda route: (requests.append(route.request.url), route.continue_()))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        assert requests == [url] and not errors  # zero network requests beyond the file itself
        for section in SECTIONS:
            assert page.locator(f"section#{section} h2").count() == 1, section
        assert page.locator("svg[role=img] title").count() >= 5
        page.screenshot(path=str(SCREENSHOT), full_page=False)
        off = browser.new_context(java_script_enabled=False).new_page()
        off.goto(url)
        assert off.locator("#summary table tbody tr").count() == 10
        assert off.locator("#leaderboards table tbody tr").count() == 4
        assert off.locator("#manifest table tbody tr").count() >= 7
        browser.close()
    assert SCREENSHOT.stat().st_size > 20_000


def test_reproduce_agrees_on_a_fresh_demo_then_names_a_changed_number(demo: Path) -> None:
    same = glassboard("reproduce", "report.html", cwd=demo)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "DISAGREE" not in same.stdout and re.search(r"(\d+) of \1 numbers agree", same.stdout)
    with sqlite3.connect(demo / "arena.db") as db:  # the arena database: ten votes for chat-exp become losses
        db.execute("UPDATE battles SET winner = CASE winner WHEN 'model_a' THEN 'model_b' ELSE 'model_a' END "
                   "WHERE rowid IN (SELECT rowid FROM battles WHERE model_a = 'smollm2-135m-chat-exp' LIMIT 10)")
    changed = glassboard("reproduce", "report.html", "--limit-steps", "ratings", cwd=demo)
    assert changed.returncode == 1, changed.stdout
    assert "input changed: sqlite:///" in changed.stdout
    assert re.search(r"DISAGREE +smollm2-135m-chat-exp raw rating: old [\d.]+ new [\d.]+ \(exact\)", changed.stdout)
