"""Shared fixtures: the bundled model, llama-cpp-python's OpenAI-compatible server, a scripted fault server, DBs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from glassboard.models import ModelHub, Registry, bundled_model_path
from glassboard.models.scripted_server import ScriptedServer, free_port
from parts import (
    CHROMIUM,
    LLAMA_SERVER,
    POSTGRESQL,
    REDIS,
    chromium_executable,
    missing_module,
    need,
    pytest_terminal_summary,  # noqa: F401 (the hook: one summary line per missing part)
    redis_answers,
)

# One llama.cpp thread per process (inherited by the servers the tests start): tests run servers, browsers and
# models side by side on 2 cores, and llama.cpp threads that compete for cores spin, slowing decoding 100-fold.
os.environ.setdefault("GLASSBOARD_N_THREADS", "1")

POSTGRES_URL = os.environ.get("GLASSBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GLASSBOARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the sha256 cache and any default files out of the user's home and the repo."""
    monkeypatch.setenv("GLASSBOARD_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))

    monkeypatch.delenv("GLASSBOARD_CONFIG", raising=False)


@pytest.fixture(scope="session")
def model_path() -> Path:
    return bundled_model_path()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.load(None)


@pytest.fixture
async def hub(registry: Registry):
    async with ModelHub(registry) as opened:
        yield opened


@pytest.fixture(scope="session")
def llama_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
                 ) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server with the bundled model, on a free loopback port."""
    problem = missing_module("llama_cpp.server.app")
    if problem is not None:
        need(pytestconfig, LLAMA_SERVER, problem)
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--model_alias", "smollm2-135m",
             "--logits_all", "true"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(pytestconfig: pytest.Config) -> str:
    """A real PostgreSQL (scripts/setup-system.sh starts it on 127.0.0.1:5432); the test is skipped if it is down."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("select 1"))
    except sqlalchemy.exc.OperationalError as err:
        need(pytestconfig, POSTGRESQL, f"not reachable at {POSTGRES_URL}: {str(err.orig).strip().splitlines()[0]}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url(pytestconfig: pytest.Config) -> str:
    """A real Redis (scripts/setup-system.sh starts redis-server on 127.0.0.1:6379); skipped if none answers."""
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    problem = redis_answers(parts.hostname or "127.0.0.1", parts.port or 6379)
    if problem is not None:
        need(pytestconfig, REDIS, problem)
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path(pytestconfig: pytest.Config) -> str:
    """Debian's Chromium for Playwright (never `playwright install`); skipped when absent."""
    path = chromium_executable()
    if path is None:
        need(pytestconfig, CHROMIUM, "no chromium on PATH")
    problem = missing_module("playwright.sync_api")
    if problem is not None:
        need(pytestconfig, CHROMIUM, problem)
    return path


# Quiet, offline headless Chromium: no sandbox (root in CI), no GPU, no background requests of its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """One headless Chromium per test module (playwright's Browser), driven through Debian's binary."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
