"""Shared fixtures: the bundled model, llama-cpp-python's OpenAI-compatible server, a scripted fault server, DBs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from glassboard.models import ModelHub, Registry, bundled_model_path
from glassboard.models.scripted_server import ScriptedServer, free_port

# One llama.cpp thread per process (inherited by the servers the tests start): tests run servers, browsers and
# models side by side on 2 cores, and llama.cpp threads that compete for cores spin, slowing decoding 100-fold.
os.environ.setdefault("GLASSBOARD_N_THREADS", "1")

POSTGRES_URL = os.environ.get("GLASSBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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
def llama_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's own OpenAI-compatible server with the bundled model, on a free loopback port."""
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
def postgres_url() -> str:
    """A real PostgreSQL (this project's machines run one on 127.0.0.1:5432); fail loudly if it is down."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("select 1"))
    except sqlalchemy.exc.OperationalError as err:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {err}")
    finally:
        engine.dispose()
    return POSTGRES_URL
