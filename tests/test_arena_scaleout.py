"""Scale-out arena (issue 14): resumable streams (SSE ids + Last-Event-ID) in one process and across replicas on
PostgreSQL + Redis, shared rate limits, failover when a replica dies, health endpoints, --workers checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arena_fixtures import ArenaServer, pg_database_fixture, reset_postgres, scripted_registry, settings_for  # noqa: F401

LONG_ANSWER = " ".join(f"word{i}" for i in range(40))


@pytest.fixture(scope="module", name="drip_server")
def drip_server_fixture() -> Iterator[Any]:
    """A scripted backend with a 40-chunk answer (the drip scenario sends one chunk every N ms)."""
    from glassboard.models.scripted_server import ScriptedServer

    with ScriptedServer(answer=LONG_ANSWER) as server:
        yield server


def read_events(client: httpx.Client, url: str, headers: dict[str, str] | None = None,
                stop_after: int | None = None) -> list[tuple[str | None, str, dict[str, Any]]]:
    """[(id, event, data)] of a server-sent event stream, closing the connection after `stop_after` events."""
    events: list[tuple[str | None, str, dict[str, Any]]] = []
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, response.read()
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line:
                name, _, value = line.partition(": ")
                block[name] = value
                continue
            if "event" in block:
                events.append((block.get("id"), block["event"], json.loads(block.get("data", "{}"))))
                if stop_after is not None and len(events) >= stop_after:
                    break
            block = {}
    return events


def answers_of(events: list[tuple[str | None, str, dict[str, Any]]]) -> dict[str, str]:
    text = {"a": "", "b": ""}
    for _, name, data in events:
        if name == "chunk":
            text[data["side"]] += data["text"]
    return text


def check_resumed(first: list, rest: list) -> None:
    """Two pieces of one live turn: ids consecutive from 0-1 to the end, nothing lost, nothing repeated."""
    ids = [event_id for event_id, _, _ in first + rest]
    assert ids == [f"0-{n}" for n in range(1, len(ids) + 1)], ids
    assert rest[-1][1:] == ("end", {"status": "ready"})
    answers = answers_of(first + rest)
    assert answers == {"a": LONG_ANSWER, "b": LONG_ANSWER}, answers


def test_stream_resumes_after_last_event_id_in_one_process(tmp_path, drip_server) -> None:
    registry = scripted_registry(drip_server, {"alpha": "drip20ms", "beta": "drip20ms"})
    settings = settings_for(f"sqlite:///{tmp_path / 'arena.db'}", registry)
    with ArenaServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        battle_id = client.post("/api/battles", json={"prompt": "count"}).json()["battle_id"]
        url = f"/api/battles/{battle_id}/stream"
        first = read_events(client, url, stop_after=6)
        assert [name for _, name, _ in first][:1] == ["start"] and len(first) == 6
        rest = read_events(client, url, headers={"Last-Event-ID": first[-1][0]})
        assert rest[0][1] != "start"  # resumed, not replayed
        check_resumed(first, rest)
        # The page's own reconnect passes the id in the query string; an id of another turn replays the turn.
        again = read_events(client, f"{url}?last_event_id=0-3")
        assert again[0][1] == "start" and again[-1][1] == "end"  # finished: rebuilt from the store, from start
        assert client.post(f"/api/battles/{battle_id}/vote", json={"winner": "tie"}).status_code == 200


@pytest.fixture(name="replica_settings")
def replica_settings_fixture(pg_database: str, redis_url: str, drip_server: Any) -> Any:
    """Settings factory for replicas on one fresh PostgreSQL database and the real Redis."""
    reset_postgres(pg_database)

    def make(scenario: str = "drip20ms", **overrides: Any) -> Any:
        registry = scripted_registry(drip_server, {"alpha": scenario, "beta": scenario})
        values: dict[str, Any] = {"redis_url": redis_url, "heartbeat_ttl_s": 1.0, "stale_after_s": 5.0,
                                  "drain_s": 1.0}
        values.update(overrides)
        return settings_for(pg_database, registry, **values)

    return make


def test_two_replicas_create_on_one_stream_resume_and_vote_on_the_other(replica_settings) -> None:
    settings = replica_settings()
    with ArenaServer(settings) as one, ArenaServer(settings) as two, httpx.Client(timeout=30) as client:
        battle_id = client.post(f"{one.url}/api/battles", json={"prompt": "count"}).json()["battle_id"]
        path = f"/api/battles/{battle_id}/stream"
        # Followed from Redis on the replica that does not generate it, then resumed on the one that does.
        first = read_events(client, two.url + path, stop_after=5)
        middle = read_events(client, one.url + path, headers={"Last-Event-ID": first[-1][0]}, stop_after=5)
        rest = read_events(client, two.url + path, headers={"Last-Event-ID": middle[-1][0]})
        check_resumed(first + middle, rest)
        # Nobody else may follow it on either replica (the voter check is the database's, shared).
        with httpx.Client(timeout=30) as stranger:
            assert stranger.get(two.url + path).status_code == 403
            assert stranger.post(f"{two.url}/api/battles/{battle_id}/vote", json={"winner": "tie"}).status_code == 403
        vote = client.post(f"{two.url}/api/battles/{battle_id}/vote", json={"winner": "model_b"})
        assert vote.status_code == 200, vote.text
        again = client.post(f"{one.url}/api/battles/{battle_id}/vote", json={"winner": "model_a"})
        assert again.status_code == 409  # counted once, whichever replica is asked
        assert one.app.state.arena.store.battle(battle_id)["winner"] == "model_b"


def test_a_voters_rate_limit_is_shared_between_replicas(replica_settings) -> None:
    settings = replica_settings("ok", create_per_min_voter=3, create_per_min_ip=100)
    with ArenaServer(settings) as one, ArenaServer(settings) as two, httpx.Client(timeout=30) as client:
        codes = [client.post(f"{url}/api/battles", json={"prompt": "hi"}).status_code
                 for url in (one.url, two.url, one.url, two.url)]
        assert codes == [200, 200, 200, 429], codes
        refused = client.post(f"{one.url}/api/battles", json={"prompt": "hi"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_redis_unreachable_at_start_is_a_clear_error(replica_settings) -> None:
    from glassboard.arena.app import create_app
    from glassboard.arena.shared import SharedStateError

    with pytest.raises(SharedStateError, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"):
        create_app(replica_settings(redis_url="redis://127.0.0.1:1/0"))


REPLICA_PROCESS = """
import sys, types
sys.path.insert(0, {tests!r})
from arena_fixtures import scripted_registry, settings_for
import uvicorn
from glassboard.arena.app import create_app
from glassboard.arena.server import uvicorn_config
backend = types.SimpleNamespace(base_url=lambda scenario: "http://127.0.0.1:{backend}/" + scenario + "/v1")
settings = settings_for({db!r}, scripted_registry(backend, {{"alpha": "drip20ms", "beta": "drip20ms"}}),
                        redis_url={redis!r}, heartbeat_ttl_s=1.0, stale_after_s=5.0, drain_s=1.0,
                        create_per_min_voter=0, vote_per_min_voter=0, create_per_min_ip=0, vote_per_min_ip=0)
uvicorn.Server(uvicorn_config(create_app(settings), settings, port={port}, log_level="warning")).run()
"""


def test_sigkill_of_a_replica_loses_no_vote_and_fails_its_battles_with_an_error_event(
        pg_database, redis_url, drip_server) -> None:
    """Two replicas under load; one is SIGKILLed mid-answer. Every acknowledged vote is exported exactly once and
    every battle ends voted, failed (its followers got an error event) or votable. Bounded: ~20 s, loopback."""
    import asyncio
    import os
    import random
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from glassboard.models.scripted_server import free_port

    reset_postgres(pg_database)
    port = free_port()
    code = REPLICA_PROCESS.format(tests=str(Path(__file__).parent), backend=drip_server.port, db=pg_database,
                                  redis=redis_url, port=port)
    victim = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    doomed = f"http://127.0.0.1:{port}"
    registry = scripted_registry(drip_server, {"alpha": "drip20ms", "beta": "drip20ms"})
    settings = settings_for(pg_database, registry, redis_url=redis_url, heartbeat_ttl_s=1.0, stale_after_s=5.0,
                            drain_s=1.0, create_per_min_voter=0, vote_per_min_voter=0, create_per_min_ip=0,
                            vote_per_min_ip=0)
    acked: dict[str, str] = {}  # battle id -> acknowledged winner
    created: set[str] = set()
    endings: dict[str, str] = {}  # battle id -> status of the stream's end event
    try:
        with ArenaServer(settings) as survivor:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(doomed + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and victim.poll() is None, "replica process did not start"
                time.sleep(0.1)

            async def voter(seed: int, stop_at: float) -> None:
                rng = random.Random(seed)
                async with httpx.AsyncClient(timeout=20) as client:
                    while time.monotonic() < stop_at:
                        urls = [survivor.url] + ([doomed] if victim.poll() is None else [])
                        try:
                            reply = await client.post(rng.choice(urls) + "/api/battles", json={"prompt": "go"})
                        except httpx.HTTPError:
                            continue  # the victim is gone: try again
                        battle_id = reply.json()["battle_id"]
                        created.add(battle_id)
                        last, url = None, rng.choice(urls)  # follow it; resume on the survivor if cut off
                        for _attempt in range(3):
                            try:
                                headers = {"Last-Event-ID": last} if last else {}
                                async with client.stream("GET", f"{url}/api/battles/{battle_id}/stream",
                                                         headers=headers) as response:
                                    block: dict[str, str] = {}
                                    async for line in response.aiter_lines():
                                        if line:
                                            name, _, value = line.partition(": ")
                                            block[name] = value
                                            continue
                                        last = block.get("id", last)
                                        if block.get("event") == "end":
                                            endings[battle_id] = json.loads(block["data"])["status"]
                                        block = {}
                            except httpx.HTTPError:
                                pass
                            if battle_id in endings:
                                break
                            url = survivor.url
                        if endings.get(battle_id) == "ready":
                            winner = rng.choice(["model_a", "model_b", "tie"])
                            try:
                                vote = await client.post(f"{rng.choice(urls)}/api/battles/{battle_id}/vote",
                                                         json={"winner": winner})
                            except httpx.HTTPError:
                                continue  # not acknowledged
                            if vote.status_code == 200:
                                acked[battle_id] = winner

            async def load() -> None:
                stop_at = time.monotonic() + 8
                tasks = [asyncio.create_task(voter(i, stop_at)) for i in range(4)]
                await asyncio.sleep(2.5)
                victim.send_signal(signal.SIGKILL)
                await asyncio.gather(*tasks)

            asyncio.run(load())
            store = survivor.app.state.arena.store
            deadline = time.monotonic() + 20  # the sweep fails battles nobody was following
            while store.streaming_battles(time.time() + 1) and time.monotonic() < deadline:
                time.sleep(0.2)
            rows = {battle_id: store.battle(battle_id) for battle_id in created}
            statuses = {battle_id: row["status"] for battle_id, row in rows.items()}
            failed_ended = [b for b, status in endings.items() if status == "failed"]
            out = Path(pg_database.rsplit("/", 1)[1] + ".jsonl")
            exported = [json.loads(line) for line in _export(store, out)]
    finally:
        victim.kill()
        victim.wait()
    assert acked and failed_ended, (len(acked), endings)  # votes went through, and the kill failed live battles
    assert len(exported) == sum(status == "voted" for status in statuses.values())  # each vote exported once
    exported_votes = [(row["tstamp"], row["winner"]) for row in exported]
    for battle_id, winner in acked.items():  # every acknowledged vote is there, exactly once, as acknowledged
        assert exported_votes.count((rows[battle_id]["tstamp"], winner)) == 1, battle_id
    assert set(statuses.values()) <= {"voted", "failed", "ready"}, statuses
    assert all(statuses[b] == "failed" for b in failed_ended)  # an error event means failed, never voted


def _export(store: Any, name: Any) -> list[str]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        store.export(str(path))
        return path.read_text().splitlines()


def test_replicas_share_one_leaderboard_computation(replica_settings, redis_url) -> None:
    import redis

    settings = replica_settings("ok")
    with ArenaServer(settings) as one, ArenaServer(settings) as two, httpx.Client(timeout=30) as client:
        for url in (one.url, two.url, one.url):
            battle_id = client.post(f"{url}/api/battles", json={"prompt": "hi"}).json()["battle_id"]
            read_events(client, f"{url}/api/battles/{battle_id}/stream")
            assert client.post(f"{url}/api/battles/{battle_id}/vote", json={"winner": "model_a"}).status_code == 200
        computed: list[int] = []
        for server in (one, two):
            cache = server.app.state.arena.board
            original = cache.get
            cache.get = lambda count, load, original=original: computed.append(count) or original(count, load)
        first = client.get(f"{one.url}/api/leaderboard").json()
        second = client.get(f"{two.url}/api/leaderboard").json()
        assert first == second and first["votes"] == 3
        assert computed == [3]  # one computation for both replicas
        assert redis.Redis.from_url(redis_url).exists(f"{one.app.state.arena.shared.ns}:cache:board:3")


def test_health_and_readiness_endpoints(replica_settings) -> None:
    with ArenaServer(replica_settings("ok")) as server, httpx.Client(timeout=30) as client:
        assert client.get(f"{server.url}/healthz").json() == {"status": "ok"}
        assert client.get(f"{server.url}/readyz").json() == {"status": "ready"}
        server.app.state.arena.draining = True
        refused = client.get(f"{server.url}/readyz")
        assert refused.status_code == 503 and refused.json()["problems"] == ["draining: shutting down"]


@pytest.mark.parametrize(("db", "redis", "missing"), [
    ("sqlite:///x.db", None, "missing: PostgreSQL, Redis"),
    ("postgresql+psycopg://u@h/db", None, "missing: Redis"),
    ("sqlite:///x.db", "redis://127.0.0.1:6379/0", "missing: PostgreSQL"),
])
def test_workers_need_postgresql_and_redis_and_say_which_is_missing(db: str, redis: str | None,
                                                                    missing: str) -> None:
    from glassboard.arena.settings import Settings
    from glassboard.models.types import ConfigError

    with pytest.raises(ConfigError, match=missing):
        Settings(db_url=db, redis_url=redis, workers=2).check()
