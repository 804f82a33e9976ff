"""Scale-out arena under faults (issue 14): Redis killed mid-run under two replicas (clear 503s, no lost or doubled
vote, service back when Redis is), `glassboard serve --workers 2` as real processes, and the page's stream
reconnect (Last-Event-ID) in real Chromium behind a proxy that cuts the stream once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from arena_fixtures import ArenaServer, pg_database_fixture, reset_postgres, scripted_registry, settings_for  # noqa: F401
from glassboard.models.scripted_server import ScriptedServer, free_port
from parts import REDIS, need
from test_arena_scaleout import LONG_ANSWER, answers_of, read_events


@dataclass
class OwnRedis:
    """A redis-server of the test's own on a free loopback port, without persistence (a restart comes back empty)."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if _redis_ping(self.port):
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline and self.process.poll() is None, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


def _redis_ping(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
        connection.sendall(b"PING\r\n")
        return connection.recv(16).startswith(b"+PONG")


@pytest.fixture(name="own_redis")
def own_redis_fixture(pytestconfig: pytest.Config) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        need(pytestconfig, REDIS, "no redis-server on PATH (the test starts and kills its own)")
    server = OwnRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module", name="slow_server")
def slow_server_fixture() -> Iterator[ScriptedServer]:
    with ScriptedServer(answer=LONG_ANSWER) as server:
        yield server


def test_redis_killed_mid_run_gives_503s_loses_no_vote_and_replicas_serve_again(pg_database, own_redis,
                                                                                  slow_server) -> None:
    reset_postgres(pg_database)
    registry = scripted_registry(slow_server, {"alpha": "drip100ms", "beta": "drip100ms"})
    settings = settings_for(pg_database, registry, redis_url=own_redis.url, heartbeat_ttl_s=1.0, stale_after_s=30.0,
                            drain_s=1.0)
    acked: dict[str, str] = {}
    with ArenaServer(settings) as one, ArenaServer(settings) as two, httpx.Client(timeout=15) as client:
        def create(url: str) -> str:
            reply = client.post(f"{url}/api/battles", json={"prompt": "count"})
            assert reply.status_code == 200, reply.text
            return str(reply.json()["battle_id"])

        def vote(url: str, battle_id: str, winner: str) -> httpx.Response:
            reply = client.post(f"{url}/api/battles/{battle_id}/vote", json={"winner": winner})
            if reply.status_code == 200:
                assert battle_id not in acked, "a second vote on one battle was acknowledged"
                acked[battle_id] = winner
            return reply

        ready = create(one.url)  # finished before the outage: votable during it
        assert read_events(client, f"{two.url}/api/battles/{ready}/stream")[-1][1:] == ("end", {"status": "ready"})
        live = create(one.url)  # generated on `one`, followed on `two` across the outage
        path = f"/api/battles/{live}/stream"
        first = read_events(client, two.url + path, stop_after=5)

        own_redis.kill()
        for url in (one.url, two.url):
            refused = client.post(f"{url}/api/battles", json={"prompt": "hi"})  # its rate limit lives in Redis
            assert refused.status_code == 503 and "Redis" in refused.json()["error"], refused.text
            readiness = client.get(f"{url}/readyz")
            assert readiness.status_code == 503 and "redis" in readiness.json()["problems"][0]
        cut = client.get(two.url + path, headers={"Last-Event-ID": first[-1][0]})  # generated on the other one
        assert cut.status_code == 503 and "Redis" in cut.json()["error"], cut.text
        during = vote(two.url, ready, "model_a")
        assert during.status_code == 503 and "not recorded" in during.json()["error"], during.text
        assert one.app.state.arena.store.battle(ready)["status"] == "ready"  # refused means not counted

        time.sleep(0.5)  # several chunks of `live` are generated while Redis is down
        own_redis.start()  # empty: no streams, no heartbeats, no buckets
        deadline = time.monotonic() + 15
        while not all(client.get(f"{url}/readyz").status_code == 200 for url in (one.url, two.url)):
            assert time.monotonic() < deadline, "replicas did not become ready after Redis came back"
            time.sleep(0.1)
        assert live in one.app.state.arena.runner.live  # the premise: still generating when Redis came back
        # The turn still generating on `one` was republished whole: `two` continues it with nothing lost or twice.
        rest = read_events(client, two.url + path, headers={"Last-Event-ID": first[-1][0]})
        ids = [event_id for event_id, _, _ in first + rest]
        assert ids == [f"0-{n}" for n in range(1, len(ids) + 1)], ids
        assert rest[-1][1:] == ("end", {"status": "ready"})
        assert answers_of(first + rest) == {"a": LONG_ANSWER, "b": LONG_ANSWER}

        assert vote(two.url, ready, "model_b").status_code == 200
        assert vote(one.url, ready, "tie").status_code == 409  # counted once
        assert vote(one.url, live, "tie").status_code == 200
        again = create(two.url)  # served again: created on one replica, streamed and voted on the other
        assert read_events(client, f"{one.url}/api/battles/{again}/stream")[-1][1:] == ("end", {"status": "ready"})
        assert vote(one.url, again, "model_a").status_code == 200

        store = one.app.state.arena.store
        assert {b: store.battle(b)["winner"] for b in acked} == acked
        assert store.vote_count() == len(acked) == 3
