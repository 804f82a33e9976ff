"""Durability: votes acknowledged before `glassboard serve` is killed with SIGKILL are all stored after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from arena_fixtures import db_url_fixture, parse_sse, pg_database_fixture  # noqa: F401 - fixtures
from glassboard.models.scripted_server import free_port
from glassboard.store.battles import Store


def start_server(db_url: str, config: Path, port: int, log: Path, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    command = [sys.executable, "-m", "glassboard.cli", "serve", "--db", db_url, "--config", str(config),
               "--port", str(port), "--rate-limit", "0", "--log-level", "warning", *extra]
    with log.open("a") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/transparency", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"glassboard serve did not start: {log.read_text()[-3000:]}")
        time.sleep(0.1)


def battle_and_vote(client: httpx.Client, index: int) -> str | None:
    """Create, stream, vote. Returns the battle id once the vote is acknowledged (HTTP 200)."""
    try:
        battle_id = client.post("/api/battles", json={"prompt": f"question {index}"}).json()["battle_id"]
        events = parse_sse(client.get(f"/api/battles/{battle_id}/stream").text)
        if events[-1] != ("end", {"status": "ready"}):
            return None
        response = client.post(f"/api/battles/{battle_id}/vote", json={"winner": "model_a"})
        return battle_id if response.status_code == 200 else None
    except (httpx.HTTPError, KeyError, ValueError):
        return None  # the server died under us: not acknowledged


def voter(base: str, worker: int, acknowledged: list[str], stop: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        index = 0
        while not stop.is_set():
            battle_id = battle_and_vote(client, worker * 10_000 + index)
            index += 1
            if battle_id:
                acknowledged.append(battle_id)


def test_acknowledged_votes_survive_sigkill(db_url: str, scripted_server, tmp_path: Path) -> None:
    check_sigkill_durability(db_url, scripted_server, tmp_path)


def test_acknowledged_votes_survive_sigkill_with_sqlite_sync_normal(scripted_server, tmp_path: Path) -> None:
    # NORMAL skips the fsync per commit; a killed process still loses nothing (only a machine crash could).
    check_sigkill_durability(f"sqlite:///{tmp_path}/normal.db", scripted_server, tmp_path, ("--sqlite-sync", "normal"))


def check_sigkill_durability(db_url: str, scripted_server, tmp_path: Path, extra: tuple[str, ...] = ()) -> None:
    config = tmp_path / "glassboard.toml"
    config.write_text("".join(
        f'[models.{name}]\nbackend = "openai"\nmodel = "{name}"\nbase_url = "{scripted_server.base_url("ok")}"\n'
        f'provider = "p-{name}"\noptions = {{ max_retries = 0 }}\n\n' for name in ("alpha", "beta", "gamma")
    ))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    process = start_server(db_url, config, port, log, extra)
    acknowledged: list[str] = []
    stop = threading.Event()
    workers = [threading.Thread(target=voter, args=(base, w, acknowledged, stop)) for w in range(6)]
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)  # mid-traffic: other battles and votes are in flight
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        stop.set()
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 60

    restarted = start_server(db_url, config, port, log, extra)
    try:
        board = httpx.get(f"{base}/api/leaderboard", timeout=30).json()
        assert board["votes"] >= len(acknowledged)
        with httpx.Client(base_url=base, timeout=10) as client:  # the restarted server still works
            assert battle_and_vote(client, 999) is not None
    finally:
        restarted.terminate()
        restarted.wait(timeout=20)
    store = Store(db_url)
    try:
        for battle_id in acknowledged:
            row = store.battle(battle_id)
            assert row is not None and row["status"] == "voted" and row["winner"] == "model_a", battle_id
        assert store.vote_count() >= len(acknowledged) + 1
        unvoted = [r for r in store.voted(include_unvoted=True) if r["winner"] is None]
        assert all(r["flags"] == [] for r in unvoted)  # battles cut off by the kill are kept, never scored
    finally:
        store.close()
