"""Speed and memory of glassboard.rating on synthetic battles (default: 1.5M battles, 200 models, style features).

Prints wall and CPU seconds of each fit against the issue's targets, and the process's peak memory.
Not a test: run it by hand, e.g.

    .venv/bin/python benchmarks/bench_rating.py                 # the full size (about a minute)
    .venv/bin/python benchmarks/bench_rating.py --battles 100000 --models 50

The battles are drawn uniformly over model pairs, so all 200*199/2 pairs occur (the most outcome cells the
aggregated bootstrap can face); each side carries length, header, list, bold and emoji counts, and votes
follow BT with style effects, 15% ties (40% of them both-bad).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from glassboard.rating.bt import fit_bt
from glassboard.rating.elo import fit_elo
from glassboard.rating.leaderboard import leaderboard
from glassboard.rating.style import fit_style
from glassboard.rating.synth import synthetic_battles

GB = 1024**3


def peak_rss() -> float:
    """Peak resident memory of this process so far, in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak if sys.platform == "darwin" else peak * 1024)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall time over `repeat` runs, its CPU time, and the last result."""
    best = (float("inf"), 0.0)
    result = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        best = min(best, (w, c))
    return best[0], best[1], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_500_000)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--bt-rounds", type=int, default=1000, help="plain BT bootstrap rounds")
    parser.add_argument("--style-rounds", type=int, default=100, help="style-control bootstrap rounds")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (the best is reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--elo", action="store_true", help="also time online Elo (a Python loop)")
    parser.add_argument("--threads", type=int, default=None, help="worker threads (default: one per CPU)")
    args = parser.parse_args()

    print(f"glassboard.rating benchmark: {args.battles:,} battles, {args.models} models")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    t0 = time.perf_counter()
    table, _ = synthetic_battles(
        args.battles, args.models, seed=args.seed, style_coef=np.array([0.8, 0.2, 0.1, 0.2, 0.5])
    )
    data_bytes = sum(a.nbytes for a in (table.a, table.b, table.outcome, table.counts, table.rows, table.tstamp))
    print(f"generated in {time.perf_counter() - t0:.1f} s; battle arrays {data_bytes / 2**20:.0f} MiB")

    steps: list[tuple[str, Callable[[], Any], float | None]] = [
        ("plain BT fit + sandwich CIs", lambda: fit_bt(table, threads=args.threads), None),
        ("style-controlled fit + sandwich CIs", lambda: fit_style(table, threads=args.threads), 2.0),
        (
            f"plain BT + {args.bt_rounds} bootstrap rounds",
            lambda: fit_bt(table, ci="bootstrap", rounds=args.bt_rounds, seed=1, threads=args.threads),
            2.0,
        ),
        (
            f"style control + {args.style_rounds} bootstrap rounds",
            lambda: fit_style(table, ci="bootstrap", rounds=args.style_rounds, seed=1, threads=args.threads),
            30.0,
        ),
        ("leaderboard(): both views, sandwich CIs, matrices", lambda: leaderboard(table, threads=args.threads), None),
    ]
    if args.elo:
        steps.append(("online Elo (reference view)", lambda: fit_elo(table), None))
    full_size = args.battles >= 1_500_000 and args.models >= 200
    print()
    print(f"{'step':<50} {'wall s':>8} {'cpu s*':>8} {'target':>8}  verdict")
    results = {}
    for name, fn, target in steps:
        wall, cpu, result = timed(fn, args.repeat)
        results[name] = result
        verdict = "" if target is None else ("meets" if wall <= target else "MISSES")
        if target is not None and not full_size:
            verdict += " (targets are for 1.5M x 200)"
        tgt = "" if target is None else f"<= {target:g}"
        print(f"{name:<50} {wall:8.2f} {cpu:8.2f} {tgt:>8}  {verdict}", flush=True)
    peak = peak_rss()
    verdict = "meets" if peak <= 2 * GB else "MISSES"
    print(f"{'peak memory (process RSS)':<50} {peak / GB:8.2f} {'GB':>8} {'<= 2':>8}  {verdict}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine slows every number)")
    print("* CPU time of the process, summed over its threads (the bootstraps and the style fit use both cores)")

    style = next(r for n, r in results.items() if n.startswith("style-controlled"))
    print(
        "\nstyle coefficients (log-odds per SD):",
        ", ".join(f"{f} {c:+.3f}" for f, c in zip(style.features, style.coef, strict=True)),
    )


if __name__ == "__main__":
    main()
