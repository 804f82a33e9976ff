"""Runner overhead: `glassboard eval` against a loopback OpenAI-compatible server that answers after a fixed latency.

    .venv/bin/python benchmarks/bench_runner.py [--n 2000] [--latency 0.5] [--concurrency 100 200] [--repeat 1]
        [--protocol glassboard official]
    .venv/bin/python benchmarks/bench_runner.py --task mmlu-pro     # 12,032 questions, L = 0, C = 64, every protocol

The scripted server runs in its own process (its CPU is not counted). The real CLI runs as a subprocess on a
task file of N items: for gsm8k the real test split (../shared/data/gsm8k/test.jsonl) repeated; for mmlu-pro a
synthetic file in the hub's shape (12,032 questions, 10 options, the 14 categories, hub field names) and a synthetic
validation split (5 chain-of-thought exemplars per category) for `--fewshot`, since MMLU-Pro is not stored here.
Wall time is measured around the whole process (start-up included) and CPU (user + system) from that process's
rusage. Ideal wall time = N * L / C. Also printed: the phases from the run log's timestamps, the server's CPU
during the run, the 1-minute load average (the machine is shared: other processes stretch the wall time).
Targets: gsm8k (issue 5) wall <= 1.15 x ideal and CPU <= 3 ms per sample at C = 100; mmlu-pro (issue 12) against
an instant server, wall <= 10 s at C = 64 and CPU <= 1 ms per sample, under every protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
MMLU_PRO_N = 12_032
CATEGORIES = ("biology", "business", "chemistry", "computer science", "economics", "engineering", "health",
              "history", "law", "math", "other", "philosophy", "physics", "psychology")
# The server's one answer: MMLU-Pro's chain-of-thought form, so every ladder has something to read.
MMLU_PRO_ANSWER = "Let's think step by step. The options narrow down to one. The answer is (C)."
WORDS = ("energy", "market", "cell", "court", "value", "reaction", "force", "theory", "patient", "signal", "price",
         "function", "state", "system", "rate", "model", "the", "of", "which", "is", "a", "in", "following", "most")
ANCHORS = ("anchors (same machine, N=2000, L=0.5 s, C=100, ideal 10 s): Inspect AI 0.3.285 50-54 s (~25 ms CPU "
           "per sample); lm-evaluation-harness 0.4.13 23-24 s (about 11 s of start-up)")

SERVER = """
import sys, time
from glassboard.models.scripted_server import ScriptedServer
with ScriptedServer(latency=float(sys.argv[1]), answer=sys.argv[2]) as server:
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


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def make_mmlu_pro(path: Path, fewshot: Path, n: int) -> None:
    """N synthetic MMLU-Pro test rows (hub field names, 10 options, the 14 categories in turn; question and option
    lengths near the real split's: ~40 and ~6 words) and a validation split of 5 exemplars per category."""
    rng = random.Random(12)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            index = rng.randrange(10)
            out.write(json.dumps({"question_id": i, "question": _sentence(rng, 40) + "?",
                                  "options": [_sentence(rng, 6) for _ in range(10)], "answer": "ABCDEFGHIJ"[index],
                                  "answer_index": index, "cot_content": "", "category": CATEGORIES[i % 14],
                                  "src": "synthetic"}) + "\n")
    with fewshot.open("w", encoding="utf-8") as out:
        for i, category in enumerate(c for c in CATEGORIES for _ in range(5)):
            index = rng.randrange(10)
            cot = f"A: Let's think step by step. {_sentence(rng, 80)}. The answer is ({'ABCDEFGHIJ'[index]})."
            out.write(json.dumps({"question_id": 70_000 + i, "question": _sentence(rng, 40) + "?",
                                  "options": [_sentence(rng, 6) for _ in range(10)], "answer": "ABCDEFGHIJ"[index],
                                  "answer_index": index, "cot_content": cot, "category": category,
                                  "src": "synthetic"}) + "\n")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(workdir: Path, data: Path, config: Path, concurrency: int, n: int, protocol: str = "glassboard",
             task: str = "gsm8k", fewshot: Path | None = None) -> tuple[float, float, dict]:
    log_dir = workdir / f"runs-c{concurrency}-{time.monotonic_ns()}"  # fresh: a reused log would resume
    summary = workdir / "summary.json"
    command = [sys.executable, "-m", "glassboard.cli", "eval", "scripted", "--task", task, "--data", str(data),
               "--concurrency", str(concurrency), "--config", str(config), "--log-dir", str(log_dir),
               "--json", str(summary), "--protocol", protocol]
    if fewshot is not None:
        command += ["--fewshot", str(fewshot)]
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
    parser.add_argument("--task", choices=("gsm8k", "mmlu-pro"), default="gsm8k")
    parser.add_argument("--n", type=int, help="samples (gsm8k 2000, mmlu-pro 12032)")
    parser.add_argument("--latency", type=float, help="server latency in s (gsm8k 0.5, mmlu-pro 0: instant)")
    parser.add_argument("--concurrency", type=int, nargs="+", help="C values (gsm8k 100 200, mmlu-pro 64)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--protocol", nargs="+", help="protocols to run under (default: gsm8k glassboard, mmlu-pro "
                        "every built-in one; the protocol score is computed at summary time, inside the measured "
                        "process)")
    args = parser.parse_args()
    mmlu = args.task == "mmlu-pro"
    n = args.n or (MMLU_PRO_N if mmlu else 2000)
    latency = args.latency if args.latency is not None else (0.0 if mmlu else 0.5)
    concurrencies = args.concurrency or ([64] if mmlu else [100, 200])
    if args.protocol:
        protocols = args.protocol
    elif mmlu:
        from glassboard.bench.protocol import available

        protocols = [p.name for p in available("mmlu-pro")]
    else:
        protocols = ["glassboard"]
    if not mmlu and not GSM8K.is_file():
        raise SystemExit(f"GSM8K test split not found at {GSM8K}")
    with tempfile.TemporaryDirectory(prefix="glassboard-bench-") as tmp:
        workdir = Path(tmp)
        data, fewshot = workdir / f"{args.task}-{n}.jsonl", None
        if mmlu:
            fewshot = workdir / "mmlu-pro-validation.jsonl"
            make_mmlu_pro(data, fewshot, n)
        else:
            make_data(data, n)
        answer = MMLU_PRO_ANSWER if mmlu else "The answer is 42."
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(latency), answer], stdout=subprocess.PIPE,
                                  text=True)
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            config = workdir / "glassboard.toml"
            config.write_text(
                "[models.scripted]\nbackend = 'openai'\nmodel = 'scripted'\n"
                f"base_url = 'http://127.0.0.1:{port}/ok/v1'\n[models.scripted.options]\ntimeout_s = 30\n"
            )
            print(f"{args.task}: N = {n} samples, latency L = {latency} s, {os.cpu_count()} cores, "
                  f"python {sys.version.split()[0]}")
            print(f"{'protocol':>12} {'C':>5} {'ideal s':>8} {'wall s':>8} {'x ideal':>8} {'CPU s':>7} "
                  f"{'CPU ms/sample':>14} "
                  f"{'start-up':>9} {'requests':>9} {'tail':>6} {'server CPU s':>13} {'load':>5}  target")
            for protocol, concurrency in ((p, c) for p in protocols for c in concurrencies):
                ideal = n * latency / concurrency
                for _ in range(args.repeat):
                    load = os.getloadavg()[0]  # other processes on the machine slow the wall time down
                    server_before = process_cpu(server.pid)
                    wall, cpu, phases = run_once(workdir, data, config, concurrency, n, protocol, args.task, fewshot)
                    server_cpu = process_cpu(server.pid) - server_before
                    per_sample = cpu / n * 1000
                    target = ""
                    if mmlu and concurrency == 64:
                        ok = wall <= 10.0 and per_sample <= 1.0
                        target = f"wall <= 10 s, CPU <= 1 ms: {'met' if ok else 'NOT met'}"
                    elif not mmlu and concurrency == 100:
                        ok = wall <= 1.15 * ideal and per_sample <= 3.0
                        target = f"wall <= {1.15 * ideal:.1f} s, CPU <= 3 ms: {'met' if ok else 'NOT met'}"
                    ratio = f"{wall / ideal:>8.2f}" if ideal else f"{'-':>8}"
                    print(f"{protocol:>12} {concurrency:>5} {ideal:>8.1f} {wall:>8.2f} {ratio} "
                          f"{cpu:>7.2f} "
                          f"{per_sample:>14.2f} {phases['startup']:>9.2f} {phases['requests']:>9.2f} "
                          f"{phases['tail']:>6.2f} {server_cpu:>13.2f} {load:>5.1f}  {target}", flush=True)
            if not mmlu:
                print(ANCHORS)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
