"""Arena speed: battles per second for create + stream + vote with 50 concurrent clients, on SQLite and PostgreSQL.

The real app runs under uvicorn in its own process; the model backend is the scripted OpenAI-compatible server
with zero latency (another process), so what is measured is the arena itself: HTTP, sampling, the two upstream
streams, server-sent events and the database commits (create, turn, vote).

    python benchmarks/bench_arena.py                      # both databases, 50 clients, 2,000 battles each
    python benchmarks/bench_arena.py --db sqlite --battles 500
    python benchmarks/bench_arena.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

PostgreSQL runs in a private, temporary database created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from glassboard.models.scripted_server import free_port

TARGET_RATE, TARGET_P99_MS = 300.0, 100.0


def wait_http(url: str, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


def start_backend(port: int) -> subprocess.Popen:
    code = (
        "import time, sys; from glassboard.models.scripted_server import ScriptedServer\n"
        f"with ScriptedServer(latency=0.0, port={port}):\n    time.sleep(10**6)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    wait_http(f"http://127.0.0.1:{port}/stats", process, "scripted backend")
    return process


def start_arena(db_url: str, backend_port: int, port: int, workdir: Path) -> subprocess.Popen:
    config = workdir / "glassboard.toml"
    config.write_text("".join(
        f'[models.{name}]\nbackend = "openai"\nmodel = "{name}"\n'
        f'base_url = "http://127.0.0.1:{backend_port}/ok/v1"\nprovider = "bench-{name}"\n\n'
        for name in ("alpha", "beta", "gamma", "delta")
    ))
    command = [sys.executable, "-m", "glassboard.cli", "serve", "--db", db_url, "--config", str(config),
               "--port", str(port), "--rate-limit", "0", "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/api/transparency", process, "arena")
    return process


async def one_battle(client: httpx.AsyncClient, index: int) -> tuple[float, float, float, float]:
    """(create, stream, vote, total) seconds of one battle."""
    t0 = time.perf_counter()
    response = await client.post("/api/battles", json={"prompt": f"benchmark question {index}"})
    response.raise_for_status()
    battle_id = response.json()["battle_id"]
    t1 = time.perf_counter()
    text = (await client.get(f"/api/battles/{battle_id}/stream")).text
    if '"status":"ready"' not in text:
        raise RuntimeError(f"battle {battle_id} did not become ready: {text[-300:]}")
    t2 = time.perf_counter()
    winner = ("model_a", "model_b", "tie")[index % 3]
    vote = await client.post(f"/api/battles/{battle_id}/vote", json={"winner": winner})
    vote.raise_for_status()
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t3 - t0


async def run_clients(base: str, clients: int, battles: int) -> tuple[float, list[tuple[float, ...]]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(battles):
        queue.put_nowait(i)
    results: list[tuple[float, ...]] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                results.append(await one_battle(client, index))

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return time.perf_counter() - start, results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bench(kind: str, db_url: str, clients: int, battles: int, warmup: int, backend_port: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        arena = start_arena(db_url, backend_port, port, Path(tmp))
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(run_clients(base, min(clients, warmup), warmup))
            elapsed, results = asyncio.run(run_clients(base, clients, battles))
        finally:
            arena.terminate()
            arena.wait(timeout=30)
    phases = {name: [r[i] for r in results] for i, name in enumerate(("create", "stream", "vote", "battle"))}
    out = {"db": kind, "clients": clients, "battles": len(results), "seconds": round(elapsed, 2),
           "battles_per_s": round(len(results) / elapsed, 1)}
    for name, values in phases.items():
        out[f"{name}_p50_ms"] = round(pct(values, 0.50), 1)
        out[f"{name}_p99_ms"] = round(pct(values, 0.99), 1)
        out[f"{name}_mean_ms"] = round(statistics.fmean(values) * 1000, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--battles", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get(
        "GLASSBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args()

    import sqlalchemy

    backend_port = free_port()
    backend = start_backend(backend_port)
    results = []
    try:
        if args.db in ("sqlite", "both"):
            with tempfile.TemporaryDirectory() as tmp:
                results.append(bench("sqlite", f"sqlite:///{tmp}/bench.db", args.clients, args.battles,
                                     args.warmup, backend_port))
        if args.db in ("postgresql", "both"):
            name = f"glassboard_bench_{secrets.token_hex(4)}"
            admin = sqlalchemy.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
            url = sqlalchemy.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            try:
                results.append(bench("postgresql", url, args.clients, args.battles, args.warmup, backend_port))
            finally:
                with admin.connect() as conn:
                    conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    finally:
        backend.terminate()
        backend.wait(timeout=10)

    print(f"arena benchmark: {args.clients} concurrent clients, create + stream + vote, instant loopback backend, "
          f"{os.cpu_count()} CPU(s)")
    print(f"{'db':<11}{'battles/s':>10}{'battle p50':>12}{'battle p99':>12}"
          f"{'create p50/p99':>17}{'stream p50/p99':>17}{'vote p50/p99':>15}")
    for r in results:
        print(f"{r['db']:<11}{r['battles_per_s']:>10.1f}{r['battle_p50_ms']:>10.1f}ms{r['battle_p99_ms']:>10.1f}ms"
              f"{r['create_p50_ms']:>8.1f}/{r['create_p99_ms']:<6.1f}ms{r['stream_p50_ms']:>8.1f}/{r['stream_p99_ms']:<6.1f}ms"
              f"{r['vote_p50_ms']:>7.1f}/{r['vote_p99_ms']:<5.1f}ms")
        met = r["battles_per_s"] >= TARGET_RATE and r["battle_p99_ms"] < TARGET_P99_MS
        print(f"{'':<11}target >= {TARGET_RATE:.0f} battles/s and p99 < {TARGET_P99_MS:.0f} ms: "
              f"{'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
