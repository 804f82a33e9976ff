"""Fixtures and helpers for the arena and store tests: databases (SQLite file, a private PostgreSQL database),
scripted-backend registries, an in-process arena client and a uvicorn arena server on a loopback port."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from glassboard.arena.app import create_app
from glassboard.arena.settings import Settings
from glassboard.models import Registry, SamplingParams, Variant
from glassboard.models.scripted_server import ScriptedServer, free_port

DB_KINDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", name="pg_database")
def pg_database_fixture(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of our own for this test session (created, then dropped at the end)."""
    name = f"glassboard_test_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reset_postgres(url: str) -> None:
    """Empty the private database (fresh public schema), so each test starts from migrations."""
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("DROP SCHEMA public CASCADE"))
        conn.execute(sqlalchemy.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=DB_KINDS, name="db_url")
def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or the session's PostgreSQL database with a fresh schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'arena.db'}"
    url = request.getfixturevalue("pg_database")
    reset_postgres(url)
    return url


def scripted_variant(server: ScriptedServer, name: str, scenario: str = "ok", **fields: Any) -> Variant:
    """An openai-backend variant answering from the scripted server's `scenario`."""
    options = fields.pop("options", (("max_retries", 0), ("retry_base_s", 0.01), ("timeout_s", 20)))
    return Variant(name=name, backend="openai", model=f"scripted-{name}", base_url=server.base_url(scenario),
                   provider=fields.pop("provider", f"provider-{name}"), params=SamplingParams(max_tokens=32),
                   options=options, **fields)


def scripted_registry(server: ScriptedServer, scenarios: dict[str, str], **fields: Any) -> Registry:
    return Registry([scripted_variant(server, name, scenario, **fields) for name, scenario in scenarios.items()])


def settings_for(db_url: str, registry: Registry, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"db_url": db_url, "registry": registry, "secret_key": "test-secret", "seed": 1}
    values.update(overrides)
    return Settings(**values)


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """[(event, data), ...] of a server-sent event stream."""
    events = []
    for block in text.split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if name:
            events.append((name, data or {}))
    return events


class ArenaClient:
    """An httpx client on the in-process app (cookies kept, so it is one voter) plus shortcuts."""

    def __init__(self, app: Any, client: httpx.AsyncClient):
        self.app = app
        self.http = client

    @property
    def state(self) -> Any:
        return self.app.state.arena

    async def create(self, prompt: str = "Hello there") -> str:
        response = await self.http.post("/api/battles", json={"prompt": prompt})
        assert response.status_code == 200, response.text
        return response.json()["battle_id"]

    async def stream(self, battle_id: str) -> list[tuple[str, dict[str, Any]]]:
        response = await self.http.get(f"/api/battles/{battle_id}/stream")
        assert response.status_code == 200, response.text
        return parse_sse(response.text)

    async def vote(self, battle_id: str, winner: str = "model_a") -> httpx.Response:
        return await self.http.post(f"/api/battles/{battle_id}/vote", json={"winner": winner})

    async def battle(self, prompt: str = "Hello there", winner: str = "model_a") -> tuple[str, dict[str, Any]]:
        battle_id = await self.create(prompt)
        events = await self.stream(battle_id)
        assert events[-1] == ("end", {"status": "ready"}), events
        response = await self.vote(battle_id, winner)
        assert response.status_code == 200, response.text
        return battle_id, response.json()

    def other_voter(self) -> httpx.AsyncClient:
        """A second browser: same app, no cookies."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app, client=("127.0.0.9", 5000)),
                                 base_url="http://arena.test")


@asynccontextmanager
async def arena_client(settings: Settings, client_ip: str = "127.0.0.1") -> AsyncIterator[ArenaClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://arena.test", timeout=30) as http:
            yield ArenaClient(app, http)


async def wait_status(client: ArenaClient, battle_id: str, statuses: set[str], timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        battle = client.state.store.battle(battle_id)
        if battle["status"] in statuses:
            return battle["status"]
        assert time.monotonic() < deadline, f"battle stayed {battle['status']}"
        import asyncio

        await asyncio.sleep(0.02)


class ArenaServer:
    """The real app under uvicorn on a free loopback port, in a background thread (for the browser tests)."""

    def __init__(self, settings: Settings, log_level: str = "warning"):
        import uvicorn

        from glassboard.arena.server import uvicorn_config

        self.port = free_port()
        self.app = create_app(settings)
        self._server = uvicorn.Server(uvicorn_config(self.app, settings, port=self.port, log_level=log_level))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ArenaServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("arena server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
