"""Auto-arena speed: `glassboard judge run` and `glassboard battles categorize`, whole CLI processes.

    .venv/bin/python benchmarks/bench_judge.py [--prompts 500] [--models 3] [--battles 1000000] [--skip-judge]
        [--skip-categorize]

judge: an instant scripted loopback server (glassboard.judge.scripted, in its own process) plays the baseline,
the models and the judge; the real CLI judges N prompts x 2 orders x M models (plus the M + 1 answer runs) from a
fresh log directory. categorize: a Parquet file of N battles with varied prompts (coding, math, creative,
constraints, plain questions, long and multi-turn ones) is tagged with the heuristic. Wall time is measured around
each whole process (start-up included). Targets (issue 15): judge <= 10 s, categorize 1M <= 20 s.
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

SERVER = """
import time
from glassboard.judge.scripted import build_app
from glassboard.models.scripted_server import ScriptedServer
with ScriptedServer(app=build_app()) as server:
    print(server.port, flush=True)
    while True:
        time.sleep(3600)
"""
SHAPES = ("Write a Python function that {x}.", "Solve {n} * x + 3 = {m} for x.", "Write a poem about {x}.",
          "Explain {x} in exactly three sentences.", "What is {x}?", "How do I {x} with my team?",
          "Tell me about {x}, and then compare it with {y}? Why?")
TOPICS = ("the sea", "sorting lists", "tax law", "neural networks", "bread", "the French revolution", "rain",
          "graph search", "a red fox", "compound interest")


def bench_judge(root: Path, prompts: int, models: int, env: dict[str, str]) -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        lines = []
        names = [f"m{i}" for i in range(models)]
        for role, name, script in [("contestant", "base", "q=0;words=60;fam=b"),
                                   *(("contestant", n, f"q={0.2 * i};words={40 + 20 * i};fam=f{i}")
                                     for i, n in enumerate(names)),
                                   ("judge", "judge", "verbosity=0.5;position=0.3;bad=0.02")]:
            lines += [f"[models.{name}]", 'backend = "openai"', f'model = "{script}"',
                      f'base_url = "http://127.0.0.1:{port}/{role}/v1"', ""]
        (root / "glassboard.toml").write_text("\n".join(lines))
        with (root / "prompts.jsonl").open("w") as out:
            for i in range(prompts):
                out.write(json.dumps({"id": str(i), "prompt": f"Question {i}: explain topic {i % 37} briefly."}) + "\n")
        command = [sys.executable, "-m", "glassboard.cli", "judge", "run", "--judge", "judge", "--baseline", "base",
                   "--models", ",".join(names), "--prompts", str(root / "prompts.jsonl"), "--config",
                   str(root / "glassboard.toml"), "--log-dir", str(root / "logs"), "--out", str(root / "b.jsonl"),
                   "--json", str(root / "s.json"), "--no-progress", "--concurrency", "64"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:] + done.stdout[-2000:])
        doc = json.loads((root / "s.json").read_text())
        print(f"judge run: {prompts} prompts x 2 orders x {models} models = {doc['judgments']} judgments "
              f"(+ {prompts * (models + 1)} answers): wall {wall:.2f} s (target <= 10 s), "
              f"load {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def bench_categorize(root: Path, n: int, env: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(0)
    prompts, convs = [], []
    for i in range(n):
        text = rng.choice(SHAPES).format(x=rng.choice(TOPICS), y=rng.choice(TOPICS), n=i % 97, m=i % 89)
        text += f" (#{i})"
        if i % 50 == 0:
            text += " Some more context. " * 120
        turns = 2 if i % 20 == 0 else 1
        conv = []
        for _ in range(turns):
            conv += [{"role": "user", "content": text}, {"role": "assistant", "content": "an answer"}]
        prompts.append(text)
        convs.append(conv)
    table = pa.table({"model_a": ["a"] * n, "model_b": ["b"] * n, "winner": ["model_a"] * n,
                      "conversation_a": convs, "conversation_b": convs})
    src, out = root / "battles.parquet", root / "tagged.parquet"
    pq.write_table(table, src)
    command = [sys.executable, "-m", "glassboard.cli", "battles", "categorize", str(src), "--out", str(out),
               "--format", "json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    counts = {r["category"]: r["battles"] for r in json.loads(done.stdout)}
    print(f"categorize: {n:,} battles (Parquet): wall {wall:.2f} s (target <= 20 s), load {os.getloadavg()[0]:.2f}; "
          f"labels {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--skip-judge", action="store_true")
    parser.add_argument("--skip-categorize", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_judge:
            bench_judge(Path(tmp), args.prompts, args.models, env)
        if not args.skip_categorize:
            bench_categorize(Path(tmp), args.battles, env)


if __name__ == "__main__":
    main()
