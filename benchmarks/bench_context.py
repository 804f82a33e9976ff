"""Speed of the long-context audit (issue 13): prints numbers, asserts nothing.

1. Building a 128k-token prompt (goal <= 50 ms): cold (the 512 haystack sentences counted once by llama.cpp's
   tokenizer) and warm, plus the cost of the optional full-prompt verification.
2. A scripted endpoint with 1,000 cells (goal <= 10 s): `glassboard audit context` as a whole process.
3. The bundled model's default audit (lengths 512..8k, 5 depths, 2 tasks, 4 samples = 200 generations; goal
   <= 10 min on 2 cores), with the shared and the isolated depth sweep: one task and one sample extrapolated, or
   the whole audit with --full (about 9 + 25 min). Needs a quiet machine: llama.cpp's threads spin when another
   process holds a core.

Run: PYTHONPATH=src python benchmarks/bench_context.py [--skip-model] [--full]
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from glassboard.audit.context import ContextOptions, audit_context
from glassboard.audit.context_tasks import TASKS
from glassboard.audit.context_tokens import llama_counter
from glassboard.audit.haystack import TokenCounts, build_prompt, prose_pool
from glassboard.models import ModelHub, Registry, bundled_model_path
from glassboard.models.scripted_server import ScriptedServer


def bench_build() -> None:
    count = llama_counter(bundled_model_path())
    counts, pool = TokenCounts(count), prose_pool()
    layout = TASKS["niah_single"].make(random.Random(0), 0.5, "prose").layout
    for label in ("cold", "warm", "warm"):
        started = time.perf_counter()
        built = build_prompt(layout, 131072, counts, random.Random(1), pool=pool)
        print(f"build 128k prompt ({label}): {1000 * (time.perf_counter() - started):.1f} ms, {built.tokens} tokens")
    started = time.perf_counter()
    actual = count(built.text)
    print(f"verify 128k prompt (full llama.cpp tokenization): {1000 * (time.perf_counter() - started):.0f} ms, "
          f"{actual} tokens")


def bench_scripted() -> None:
    with ScriptedServer() as server, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "glassboard.toml"
        url = server.base_url("forget3000")
        config.write_text(f'[models.e]\nbackend = "openai"\nmodel = "m"\nbase_url = "{url}"\n')
        args = [sys.executable, "-m", "glassboard.cli", "audit", "context", "e", "--config", str(config),
                "--lengths", "1k,2k", "--tasks", "niah_single", "--samples", "100", "--concurrency", "16",
                "--log-dir", str(Path(tmp) / "runs"), "--format", "json"]
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
        elapsed = time.perf_counter() - started
        print(f"scripted endpoint, 1,000 samples (2 lengths x 5 depths x 100), whole process: {elapsed:.1f} s "
              f"(exit {done.returncode})")


async def bench_model(sweep: str, full: bool) -> None:
    """The bundled model with 2 llama.cpp threads: the default audit for real (`--full`: 512..8k, 5 depths, 2 tasks,
    4 samples = 200 generations), or one task and one sample of it (25 generations) extrapolated x 2 tasks x 4
    samples. Time per length from the log's timestamps."""
    import json

    tasks, samples = (("niah_single", "nolima"), 4) if full else (("niah_single",), 1)
    with tempfile.TemporaryDirectory() as tmp:
        async with ModelHub(Registry.load(None)) as hub:
            options = ContextOptions(tasks=tasks, samples=samples, log_dir=Path(tmp), sweep=sweep)
            started = time.time()
            report = await audit_context(hub, "smollm2-135m", options)
            elapsed = time.time() - started
        lines = [json.loads(line) for line in Path(report.log).read_text().splitlines()]
        previous = next(line["time"] for line in lines if line["type"] == "header")
        print(f"bundled model, {sweep} sweep: setup (tokenizer, model load, probe) {previous - started:.1f} s")
        per_length: dict[int, float] = {}
        for line in lines[1:]:
            per_length[line["length"]] = per_length.get(line["length"], 0.0) + line["time"] - previous
            previous = line["time"]
        scale = 1 if full else 2 * 4
        for length, seconds in per_length.items():
            print(f"  {length:>5} tokens: {seconds:.1f} s for {len(options.depths) * samples * len(tasks)} "
                  f"generations")
        label = "measured" if full else "extrapolated (x 2 tasks x 4 samples)"
        print(f"default audit {label}: {(elapsed if full else sum(per_length.values()) * scale) / 60:.1f} min; "
              f"effective length {report.effective_length}, verdict: {report.verdict}")


if __name__ == "__main__":
    bench_build()
    bench_scripted()
    if "--skip-model" not in sys.argv:
        for sweep_ in ("shared", "isolated"):
            asyncio.run(bench_model(sweep_, "--full" in sys.argv))
