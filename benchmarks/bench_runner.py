"""Runner overhead: `glassboard eval` against a loopback OpenAI-compatible server that answers after a fixed latency.

    .venv/bin/python benchmarks/bench_runner.py [--n 2000] [--latency 0.5] [--concurrency 100 200] [--repeat 1]
        [--protocol glassboard official]

The scripted server runs in its own process (its CPU is not counted). The real CLI runs as a subprocess on a
GSM8K-shaped file of N items built from ../shared/data/gsm8k/test.jsonl; wall time is measured around the whole
process (start-up included) and CPU (user + system) from that process's rusage. Ideal wall time = N * L / C.
Also printed: the phases from the run log's timestamps, the server's CPU during the run, the 1-minute load average
(the machine is shared: other processes stretch the wall time).
Targets (issue 5): wall <= 1.15 x ideal and CPU <= 3 ms per sample at C = 100.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
ANCHORS = ("anchors (same machine, N=2000, L=0.5 s, C=100, ideal 10 s): Inspect AI 0.3.285 50-54 s (~25 ms CPU "
           "per sample); lm-evaluation-harness 0.4.13 23-24 s (about 11 s of start-up)")

SERVER = """
import sys, time
from glassboard.models.scripted_server import ScriptedServer
with ScriptedServer(latency=float(sys.argv[1])) as server:
    print(server.port, flush=True)
    while True:
        time.sleep(3600)
"""


def make_data(path: Path, n: int) -> None:
    """N GSM8K-shaped rows: the real test split, repeated (ids are row numbers, so repeats stay distinct)."""
    rows = [json.loads(line) for line in GSM8K.read_text(encoding="utf-8").splitlines() if line.strip()]
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps(rows[i % len(rows)]) + "\n")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(workdir: Path, data: Path, config: Path, concurrency: int, n: int,
             protocol: str = "glassboard") -> tuple[float, float, dict]:
    log_dir = workdir / f"runs-c{concurrency}-{time.monotonic_ns()}"  # fresh: a reused log would resume
    summary = workdir / "summary.json"
    command = [sys.executable, "-m", "glassboard.cli", "eval", "scripted", "--task", "gsm8k", "--data", str(data),
               "--concurrency", str(concurrency), "--config", str(config), "--log-dir", str(log_dir),
               "--json", str(summary), "--protocol", protocol]
    started, started_unix = time.perf_counter(), time.time()
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall, ended_unix = time.perf_counter() - started, time.time()
    stdout, stderr = process.stdout.read().decode(), process.stderr.read().decode()  # type: ignore[union-attr]
    process.stdout.close()  # type: ignore[union-attr]
    process.stderr.close()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"glassboard eval failed:\n{stdout}\n{stderr}")
    result = json.loads(summary.read_text())
    if result["n"] != n or result["errors"]:
        raise SystemExit(f"expected {n} scored samples and no errors, got {result}")
    # Phases from the run log's own timestamps: start-up (until the header), requests, then the summary and exit.
    lines = [json.loads(line) for line in Path(result["log"]).read_text().splitlines()]
    header_t = lines[0]["time"]
    last_t = max(line["time"] for line in lines[1:])
    phases = {"startup": header_t - started_unix, "requests": last_t - header_t, "tail": ended_unix - last_t}
    return wall, usage.ru_utime + usage.ru_stime, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--protocol", nargs="+", default=["glassboard"], help="GSM8K protocols to run under "
                        "(issue 12: the protocol score is computed at summary time, inside the measured process)")
    args = parser.parse_args()
    if not GSM8K.is_file():
        raise SystemExit(f"GSM8K test split not found at {GSM8K}")
    with tempfile.TemporaryDirectory(prefix="glassboard-bench-") as tmp:
        workdir = Path(tmp)
        data = workdir / "gsm8k-2000.jsonl"
        make_data(data, args.n)
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.latency)], stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            config = workdir / "glassboard.toml"
            config.write_text(
                "[models.scripted]\nbackend = 'openai'\nmodel = 'scripted'\n"
                f"base_url = 'http://127.0.0.1:{port}/ok/v1'\n[models.scripted.options]\ntimeout_s = 30\n"
            )
            print(f"N = {args.n} samples, latency L = {args.latency} s, {os.cpu_count()} cores, "
                  f"python {sys.version.split()[0]}")
            print(f"{'protocol':>12} {'C':>5} {'ideal s':>8} {'wall s':>8} {'x ideal':>8} {'CPU s':>7} "
                  f"{'CPU ms/sample':>14} "
                  f"{'start-up':>9} {'requests':>9} {'tail':>6} {'server CPU s':>13} {'load':>5}  target")
            for protocol, concurrency in ((p, c) for p in args.protocol for c in args.concurrency):
                ideal = args.n * args.latency / concurrency
                for _ in range(args.repeat):
                    load = os.getloadavg()[0]  # other processes on the machine slow the wall time down
                    server_before = process_cpu(server.pid)
                    wall, cpu, phases = run_once(workdir, data, config, concurrency, args.n, protocol)
                    server_cpu = process_cpu(server.pid) - server_before
                    per_sample = cpu / args.n * 1000
                    target = ""
                    if concurrency == 100:
                        ok = wall <= 1.15 * ideal and per_sample <= 3.0
                        target = f"wall <= {1.15 * ideal:.1f} s, CPU <= 3 ms: {'met' if ok else 'NOT met'}"
                    print(f"{protocol:>12} {concurrency:>5} {ideal:>8.1f} {wall:>8.2f} {wall / ideal:>8.2f} "
                          f"{cpu:>7.2f} "
                          f"{per_sample:>14.2f} {phases['startup']:>9.2f} {phases['requests']:>9.2f} "
                          f"{phases['tail']:>6.2f} {server_cpu:>13.2f} {load:>5.1f}  {target}")
            print(ANCHORS)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
