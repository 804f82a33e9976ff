"""Arena speed: battles per second for create + stream + vote with 50 concurrent clients, on SQLite and PostgreSQL.

The real app runs under uvicorn in its own process; the model backend is the scripted OpenAI-compatible server
with zero latency (another process), so what is measured is the arena itself: HTTP, sampling, the two upstream
streams, server-sent events and the database commits (create, turn, vote).

Two runs per database, on one arena:
- closed loop: 50 clients, each starting its next battle as soon as the last one ended. This measures the
  saturation throughput (battles/s). Its latency is not a service-time measure: with 50 always-busy clients
  Little's law makes the mean battle latency 50 / throughput (167 ms at 300 battles/s), whatever the server does.
- paced (open loop): battles are due at a fixed rate (`--rate`, default the 300/s target) and served by up to 50
  clients; a battle's latency counts from when it was due, including any wait for a free client, so a server
  that falls behind shows it. This is the latency at the target load, which the p99 < 100 ms target is about.

The load generator runs in its own process(es) (`--client-procs`), so it does not share the arena's event loop;
by default it is a lean asyncio HTTP/1.1 keep-alive client (`--client raw`; `--client httpx` for the old one).
Besides throughput and latency, the benchmark reports the CPU time per battle of each process (arena server by
thread, clients, scripted backend, and the PostgreSQL server's processes, which share the same cores), which stays
meaningful on a machine shared with other jobs.

    python benchmarks/bench_arena.py                      # both databases, 50 clients, 2,000 battles + 10 s paced
    python benchmarks/bench_arena.py --db sqlite,postgresql --battles 500
    python benchmarks/bench_arena.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/bench_arena.py --db postgresql --redis redis://127.0.0.1:6379/0 --workers 2   # replicas
With `--workers N` the arena runs N worker processes on one port (SO_REUSEPORT: the kernel balances connections);
their CPU (and their writer processes') is counted as the arena's.

PostgreSQL runs in a private, temporary database created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
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
        "import gc, time, sys; from glassboard.models.scripted_server import ScriptedServer\n"
        "gc.collect(); gc.freeze()  # its collections paused answers by 20-35 ms, as the arena's did\n"
        f"with ScriptedServer(latency=0.0, port={port}):\n    time.sleep(10**6)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    wait_http(f"http://127.0.0.1:{port}/stats", process, "scripted backend")
    return process


def start_arena(db_url: str, backend_port: int, port: int, workdir: Path,
                extra: tuple[str, ...] = ()) -> subprocess.Popen:
    config = workdir / "glassboard.toml"
    config.write_text("".join(
        f'[models.{name}]\nbackend = "openai"\nmodel = "{name}"\n'
        f'base_url = "http://127.0.0.1:{backend_port}/ok/v1"\nprovider = "bench-{name}"\n\n'
        for name in ("alpha", "beta", "gamma", "delta")
    ))
    command = [sys.executable, "-m", "glassboard.cli", "serve", "--db", db_url, "--config", str(config),
               "--port", str(port), "--rate-limit", "0", "--log-level", "warning", *extra]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/api/transparency", process, "arena")
    return process


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its finished children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def child_cpu_seconds(pid: int) -> float:
    """CPU seconds of the live descendants of `pid` (writer processes; with --workers, the workers and theirs)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                total += cpu_seconds(int(proc.name)) + child_cpu_seconds(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of a process's main thread (the arena's event loop) and of its other threads (database work)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        name = "event loop" if task.name == str(pid) else "other threads"
        fields = text.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


# ------------------------------------------------------------------------------------------------- clients
class RawClient:
    """A minimal HTTP/1.1 keep-alive client (one connection, cookies kept): what a lean load generator costs."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookie = b""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n".encode()
        if self.cookie:
            head += b"Cookie: " + self.cookie + b"\r\n"
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
        self.writer.write(head + b"\r\n" + (body or b""))
        reader = self.reader
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"set-cookie":
                self.cookie = value.strip().split(b";", 1)[0]
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(data[:-2])
            content = b"".join(parts)
        else:
            content = await reader.readexactly(length or 0)
        return status, content

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()


class HttpxClient:
    """The same requests through httpx (the load generator used before; about 7 ms of client CPU per battle)."""

    def __init__(self, host: str, port: int):
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.client = httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=60, limits=limits)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        response = await self.client.request(method, path, content=body, headers=headers)
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self.client.aclose()


async def one_battle(client: RawClient | HttpxClient, index: int,
                     scheduled: float | None = None) -> tuple[float, float, float, float, float]:
    """(create, stream, vote, battle, queued) seconds of one battle.

    Paced runs pass the battle's `scheduled` start: its latency then counts from that moment, including any wait
    for a free client (`queued`), so a slow server cannot hide its backlog (no coordinated omission).
    """
    t0 = time.perf_counter()
    status, content = await client.request("POST", "/api/battles", b'{"prompt":"benchmark question %d"}' % index)
    if status != 200:
        raise RuntimeError(f"create: HTTP {status}: {content[:300]!r}")
    battle_id = json.loads(content)["battle_id"]
    t1 = time.perf_counter()
    status, text = await client.request("GET", f"/api/battles/{battle_id}/stream")
    if status != 200 or b'"status":"ready"' not in text:
        raise RuntimeError(f"battle {battle_id} did not become ready: {text[-300:]!r}")
    t2 = time.perf_counter()
    winner = ("model_a", "model_b", "tie")[index % 3]
    status, content = await client.request("POST", f"/api/battles/{battle_id}/vote",
                                           b'{"winner":"%s"}' % winner.encode())
    if status != 200:
        raise RuntimeError(f"vote: HTTP {status}: {content[:300]!r}")
    t3 = time.perf_counter()
    origin = t0 if scheduled is None else scheduled
    return t1 - t0, t2 - t1, t3 - t2, t3 - origin, t0 - origin


async def run_clients(port: int, clients: int, indices: range, kind: str, go: object | None = None,
                      rate: float | None = None) -> tuple[float, float, list[tuple[float, ...]]]:
    """Run `clients` concurrent clients over the battle indices; (start, end) perf_counter times and results.

    Without `rate` each client starts its next battle as soon as the last one ends (closed loop: saturation
    throughput). With `rate`, battle j is due at start + j / rate (open loop: latency at a given load).
    """
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for j, i in enumerate(indices):
        queue.put_nowait((j, i))
    results: list[tuple[float, ...]] = []
    factory = RawClient if kind == "raw" else HttpxClient
    pool = [factory("127.0.0.1", port) for _ in range(clients)]
    start = 0.0

    async def client_loop(client: RawClient | HttpxClient) -> None:
        while True:
            try:
                j, index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            scheduled = None
            if rate:
                scheduled = start + j / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            results.append(await one_battle(client, index, scheduled))

    if go is not None:
        await asyncio.get_running_loop().run_in_executor(None, go.wait)  # type: ignore[attr-defined]
    start = time.perf_counter()
    try:
        await asyncio.gather(*(client_loop(c) for c in pool))
    finally:
        for c in pool:
            await c.aclose()
    return start, time.perf_counter(), results


def client_worker(port: int, clients: int, indices: range, kind: str, go: object, out: object,
                  rate: float | None) -> None:
    """One load-generator process: waits for `go`, runs its share, sends (wall, cpu, results) back."""
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        start, end, results = asyncio.run(run_clients(port, clients, indices, kind, go, rate))
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.send((end - start, cpu, results))  # type: ignore[attr-defined]
    except BaseException as err:  # noqa: BLE001 - report to the parent instead of hanging it
        out.send(err)  # type: ignore[attr-defined]
        raise


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def load(port: int, clients: int, battles: int, kind: str, procs: int,
         rate: float | None = None) -> tuple[float, float, list]:
    """The timed run in `procs` client processes: (elapsed s, client CPU s, results)."""
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    workers, pipes = [], []
    for p in range(procs):
        share = range(p * battles // procs, (p + 1) * battles // procs)
        n = (p + 1) * clients // procs - p * clients // procs
        receive, send = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=client_worker, args=(port, n, share, kind, go, send, rate and rate / procs),
                             daemon=True)
        worker.start()
        workers.append(worker)
        pipes.append(receive)
    time.sleep(1.0)  # let the workers import and reach the start line
    start = time.perf_counter()
    go.set()
    client_cpu, results = 0.0, []
    for receive in pipes:
        message = receive.recv()
        if isinstance(message, BaseException):
            raise RuntimeError("a client process failed") from message
        _, cpu, part = message
        client_cpu += cpu
        results.extend(part)
    elapsed = time.perf_counter() - start
    for worker in workers:
        worker.join(timeout=30)
    return elapsed, client_cpu, results


def database_cpu_seconds(kind: str) -> float:
    """CPU seconds of the PostgreSQL server's processes (it shares the 2 cores); 0 for SQLite (in-process)."""
    if kind != "postgresql":
        return 0.0
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
        except (OSError, ValueError):
            continue
    return total


def measure(kind: str, arena_pid: int, backend_pid: int, port: int, args: argparse.Namespace,
            rate: float | None) -> dict:
    """One timed run against a running arena: throughput, latency percentiles and CPU per battle."""
    threads0 = thread_cpu_seconds(arena_pid)
    children0 = child_cpu_seconds(arena_pid)
    server0, backend0, database0 = cpu_seconds(arena_pid), cpu_seconds(backend_pid), database_cpu_seconds(kind)
    battles = args.battles if rate is None else int(rate * args.paced_seconds)
    elapsed, client_cpu, results = load(port, args.clients, battles, args.client, args.client_procs, rate)
    server_cpu, backend_cpu = cpu_seconds(arena_pid) - server0, cpu_seconds(backend_pid) - backend0
    database_cpu = database_cpu_seconds(kind) - database0
    threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu_seconds(arena_pid).items()}
    children = child_cpu_seconds(arena_pid) - children0
    if children > 0:
        threads["writer process"] = children
        server_cpu += children
    n = len(results)
    phases = {name: [r[i] for r in results]
              for i, name in enumerate(("create", "stream", "vote", "battle", "queued"))}
    out = {"db": kind, "mode": "closed loop" if rate is None else f"paced {rate:g}/s",
           "clients": args.clients, "client": args.client, "client_procs": args.client_procs,
           "battles": n, "seconds": round(elapsed, 2), "battles_per_s": round(n / elapsed, 1),
           "server_cpu_ms": round(server_cpu / n * 1000, 2), "client_cpu_ms": round(client_cpu / n * 1000, 2),
           "backend_cpu_ms": round(backend_cpu / n * 1000, 2), "database_cpu_ms": round(database_cpu / n * 1000, 2),
           "server_threads_cpu_ms": {k: round(v / n * 1000, 2) for k, v in sorted(threads.items()) if v > 0},
           "server_capacity_per_s": round((os.cpu_count() or 1) / (server_cpu / n), 1) if server_cpu else None,
           "load_average": round(os.getloadavg()[0], 1)}
    for name, values in phases.items():
        out[f"{name}_p50_ms"] = round(pct(values, 0.50), 1)
        out[f"{name}_p99_ms"] = round(pct(values, 0.99), 1)
        out[f"{name}_mean_ms"] = round(statistics.fmean(values) * 1000, 1)
    return out


def bench(kind: str, db_url: str, args: argparse.Namespace, backend: subprocess.Popen,
          backend_port: int) -> list[dict]:
    """The closed-loop (saturation) run, then the paced run at the target rate, on one arena."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        extra: tuple[str, ...] = ("--sqlite-sync", "normal") if kind == "sqlite-normal" else ()
        if kind == "postgresql" and args.redis:
            extra = ("--redis", args.redis, "--workers", str(args.workers))
        arena = start_arena(db_url, backend_port, port, Path(tmp), extra)
        try:
            asyncio.run(run_clients(port, min(args.clients, args.warmup), range(args.warmup), args.client))
            runs = [measure(kind, arena.pid, backend.pid, port, args, None)]
            if args.rate > 0:
                runs.append(measure(kind, arena.pid, backend.pid, port, args, args.rate))
        finally:
            arena.terminate()
            arena.wait(timeout=30)
    return runs


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"arena benchmark: {args.clients} concurrent clients ({args.client}, {args.client_procs} process(es)), "
          f"create + stream + vote, instant loopback backend, {os.cpu_count()} CPU(s)")
    print(f"{'db':<14}{'run':<13}{'battles/s':>10}{'battle p50':>12}{'battle p99':>12}"
          f"{'create p50/p99':>17}{'stream p50/p99':>17}{'vote p50/p99':>15}")
    for r in results:
        print(f"{r['db']:<14}{r['mode']:<13}{r['battles_per_s']:>10.1f}{r['battle_p50_ms']:>10.1f}ms"
              f"{r['battle_p99_ms']:>10.1f}ms{r['create_p50_ms']:>8.1f}/{r['create_p99_ms']:<6.1f}ms"
              f"{r['stream_p50_ms']:>8.1f}/{r['stream_p99_ms']:<6.1f}ms{r['vote_p50_ms']:>7.1f}/{r['vote_p99_ms']:<5.1f}ms")
        database = f", database server {r['database_cpu_ms']:.2f} ms" if r["db"] == "postgresql" else ""
        print(f"{'':<27}CPU per battle: arena {r['server_cpu_ms']:.2f} ms ("
              + ", ".join(f"{k} {v:.2f} ms" for k, v in r["server_threads_cpu_ms"].items())
              + f"), clients {r['client_cpu_ms']:.2f} ms, backend {r['backend_cpu_ms']:.2f} ms{database}; "
              f"load average {r['load_average']}")
        if r["mode"] != "closed loop":
            print(f"{'':<27}waited for a free client: p50 {r['queued_p50_ms']:.1f} ms, "
                  f"p99 {r['queued_p99_ms']:.1f} ms (counted in the battle latency)")
    for kind in dict.fromkeys(r["db"] for r in results):
        closed = next(r for r in results if r["db"] == kind and r["mode"] == "closed loop")
        paced = next((r for r in results if r["db"] == kind and r["mode"] != "closed loop"), None)
        rate_ok = closed["battles_per_s"] >= TARGET_RATE
        line = f"{kind}: target >= {TARGET_RATE:.0f} battles/s: {'met' if rate_ok else 'NOT met'}"
        if paced is not None:
            kept_up = paced["battles_per_s"] >= 0.97 * args.rate
            latency_ok = paced["battle_p99_ms"] < TARGET_P99_MS and kept_up
            line += (f"; p99 < {TARGET_P99_MS:.0f} ms at {args.rate:g} battles/s: "
                     f"{'met' if latency_ok else 'NOT met'} ({paced['battle_p99_ms']:.1f} ms)")
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,sqlite-normal,postgresql",
                        help="Comma-separated: sqlite (synchronous=FULL, the default of `glassboard serve`), "
                             "sqlite-normal (--sqlite-sync normal), postgresql.")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--battles", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rate", type=float, default=TARGET_RATE,
                        help="Offered load of the paced run, battles/s (0: no paced run).")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="Length of the paced run.")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="Load generator HTTP client.")
    parser.add_argument("--client-procs", type=int, default=1, help="Load generator processes.")
    parser.add_argument("--postgres", default=os.environ.get(
        "GLASSBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis", help="PostgreSQL runs in replica mode with this Redis URL.")
    parser.add_argument("--workers", type=int, default=1, help="Arena worker processes (with --redis).")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args()

    import sqlalchemy

    backend_port = free_port()
    backend = start_backend(backend_port)
    results = []
    try:
        kinds = [k.strip() for k in args.db.split(",") if k.strip()]
        unknown = set(kinds) - {"sqlite", "sqlite-normal", "postgresql"}
        if unknown:
            parser.error(f"--db: unknown database kind(s) {', '.join(sorted(unknown))}")
        for kind in (k for k in kinds if k.startswith("sqlite")):
            with tempfile.TemporaryDirectory() as tmp:
                results.extend(bench(kind, f"sqlite:///{tmp}/bench.db", args, backend, backend_port))
        if "postgresql" in kinds:
            name = f"glassboard_bench_{secrets.token_hex(4)}"
            admin = sqlalchemy.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
            url = sqlalchemy.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
            try:
                results.extend(bench("postgresql", url, args, backend, backend_port))
            finally:
                with admin.connect() as conn:
                    conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    finally:
        backend.terminate()
        backend.wait(timeout=10)

    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
