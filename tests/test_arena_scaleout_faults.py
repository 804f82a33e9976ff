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


def test_serve_workers_2_spreads_battles_over_two_processes_and_sigterm_stops_them(
        pg_database, redis_url, scripted_server, tmp_path) -> None:
    """`glassboard serve --workers 2` as a real process tree: both workers serve creates, streams and votes (a
    battle may be created on one and streamed or voted on the other), and SIGTERM stops the parent and both
    workers cleanly."""
    import os
    import sys

    reset_postgres(pg_database)
    config = tmp_path / "glassboard.toml"
    config.write_text("".join(
        f'[models.{name}]\nbackend = "openai"\nmodel = "{name}"\nbase_url = "{scripted_server.base_url("ok")}"\n'
        f'provider = "p-{name}"\noptions = {{ max_retries = 0 }}\n\n' for name in ("alpha", "beta")))
    port, log = free_port(), tmp_path / "serve.log"
    command = [sys.executable, "-m", "glassboard.cli", "serve", "--workers", "2", "--db", pg_database,
               "--redis", redis_url, "--config", str(config), "--port", str(port), "--rate-limit", "0",
               "--log-level", "warning"]
    env = {**os.environ, "GLASSBOARD_TEST_PID_HEADER": "1", "GLASSBOARD_SECRET": "test-secret"}
    with log.open("w") as out:
        parent = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
    base = f"http://127.0.0.1:{port}"
    served: dict[str, list[int]] = {"create": [], "stream": [], "vote": []}
    cross = 0  # battles whose requests were answered by more than one worker
    try:
        deadline = time.monotonic() + 60
        while True:  # both workers must be up: ask on new connections until two pids answered
            try:
                pids = {int(httpx.get(f"{base}/readyz", timeout=2).headers["x-glassboard-pid"]) for _ in range(20)}
                if len(pids) == 2:
                    break
            except httpx.HTTPError:
                pass
            assert parent.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        cookies: dict[str, str] = {}
        for index in range(16):
            # A new connection per request: SO_REUSEPORT picks a worker per connection.
            with httpx.Client(base_url=base, timeout=15, cookies=cookies) as client:
                created = client.post("/api/battles", json={"prompt": f"question {index}"})
                assert created.status_code == 200, created.text
                cookies.update(dict(client.cookies))
                battle_id = created.json()["battle_id"]
                pid_create = int(created.headers["x-glassboard-pid"])
            with httpx.Client(base_url=base, timeout=15, cookies=cookies) as client:
                stream = client.get(f"/api/battles/{battle_id}/stream")
                events = [line for line in stream.text.splitlines() if line.startswith("event: ")]
                assert stream.status_code == 200 and events[-1] == "event: end", stream.text
                assert '"status":"ready"' in stream.text.rsplit("event: end", 1)[1]
                pid_stream = int(stream.headers["x-glassboard-pid"])
            with httpx.Client(base_url=base, timeout=15, cookies=cookies) as client:
                vote = client.post(f"/api/battles/{battle_id}/vote", json={"winner": "model_a"})
                assert vote.status_code == 200, vote.text
                pid_vote = int(vote.headers["x-glassboard-pid"])
            served["create"].append(pid_create)
            served["stream"].append(pid_stream)
            served["vote"].append(pid_vote)
            cross += len({pid_create, pid_stream, pid_vote}) > 1
        workers = set(pids)
        assert parent.pid not in workers
        for kind, answered in served.items():
            assert set(answered) <= workers, (kind, answered)
        assert set(served["create"] + served["stream"] + served["vote"]) == workers, served
        assert cross > 0, served  # a battle moved between processes: the state they share is in PG + Redis
        with httpx.Client(base_url=base, timeout=15) as client:
            board = client.get("/api/leaderboard")
            assert board.status_code == 200 and board.json()["votes"] == 16, board.text

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    for pid in workers:  # the workers exited with the parent (and were reaped by it)
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} still runs after SIGTERM"
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
