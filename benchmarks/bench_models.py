"""Model layer speed: bundled model load time, time to first token and decode tokens/s (in-process llama.cpp)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from glassboard.models import ModelHub, Registry, bundled_model_path

PROMPTS = [
    "Write a short paragraph about the history of the bicycle.",
    "Explain how a rainbow forms.",
    "List five uses of a paperclip.",
]


async def main(runs: int, max_tokens: int) -> None:
    from llama_cpp import Llama

    path = bundled_model_path()
    started = time.perf_counter()
    Llama(model_path=str(path), n_ctx=2048, verbose=False)
    load_s = time.perf_counter() - started
    print(f"model file: {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"load time (cold llama_cpp.Llama): {load_s:.2f} s   (anchor: 0.2 s)")
    async with ModelHub(Registry.load(None)) as hub:
        model = hub.get("smollm2-135m")
        await model.complete("Hi", max_tokens=4)  # warm the shared backend
        speeds, ttfts = [], []
        for i in range(runs):
            final = await model.complete(PROMPTS[i % len(PROMPTS)], max_tokens=max_tokens, temperature=0.7, seed=i)
            if final.tokens_per_s:
                speeds.append(final.tokens_per_s)
            if final.ttft_s is not None:
                ttfts.append(final.ttft_s)
        print(f"runs: {runs} x up to {max_tokens} tokens")
        print(f"time to first token: median {statistics.median(ttfts) * 1000:.0f} ms")
        print(f"decode speed: median {statistics.median(speeds):.1f} tokens/s   (anchor: ~70 tokens/s on 2 cores)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.max_tokens))
