"""Long-context audit: claimed vs effective context length of one model variant or endpoint.

The grid is task x length x depth x sample. Each sample is a seeded prompt of an exact length in the model's own
tokens (context_tokens.py, haystack.py), answered greedily and scored as RULER does (recall of the expected
strings). A cell whose prompt the provider cut (the server counts far fewer prompt tokens than were sent) or
refused for its window is "truncated by provider": recorded, never scored as a model failure.

Why not bench.runner: it renders benchmark items and scores extracted answers; a cell here needs a prompt built to
a token budget, a truncation check against the server's count, and recall scoring. This module keeps the runner's
contract instead, with its log format (bench.log): one JSONL line per finished sample, written at once, so an
interrupted audit resumes where it stopped; model errors are stored and counted apart, never scored, and asked
again on the next run; bounded concurrency; progress reported on a timer.

Shared depth sweep (the default, `sweep="shared"`). Prompt processing is the whole cost on local weights: the
bundled model processes 400 tokens/s at 1k and 230 tokens/s at 8k on 2 cores (attention over the prefix dominates
past 4k; flash attention and quantized or bf16 KV caches measured no faster here). With one needle per prompt
(`sweep="isolated"`, RULER's single NIAH) the tokens after the needle must be processed again for every depth, so
even with perfect prefix reuse the default grid of the bundled model (512..8k, 5 depths, 2 tasks, 4 samples) costs
about 21 minutes. Shared: the five depths of one (task, length, sample) are one haystack carrying one needle per
depth (distinct keys, numbers, names and landmarks), asked one at a time; the prompts differ only in the question,
so llama.cpp (and any server with prefix caching) processes the haystack once per sample: 8.4 minutes. The asked
needle then has the others as distractors (RULER's multi-key shape), which is harder than a lone needle; tasks
that carry several needles of their own (multikey, multivalue, multiquery, vt, cwe) always run isolated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glassboard.audit.context_record import ContextRecord
from glassboard.audit.context_report import ContextCell, ContextReport, ContextSummary, LengthRow
from glassboard.audit.context_tasks import ContextTask, Instance, get_tasks, recall
from glassboard.audit.context_tokens import is_window_error, measure_for
from glassboard.audit.haystack import (
    HAYSTACKS,
    NOISE_UNITS,
    BuiltPrompt,
    ContextError,
    TokenCounts,
    build_prompt,
    fixed_tokens,
    prose_pool,
)
from glassboard.bench.log import LogWriter, default_log_path, read_records
from glassboard.bench.stats import clustered_mean_ci, mean_ci
from glassboard.models.derive import parse_context_length
from glassboard.models.types import ConfigError, ModelError
from glassboard.schema import shallow_fields

RULER_THRESHOLD = 0.856  # Llama-2-7B's RULER score at 4k: the bar RULER's effective lengths clear
MAX_LENGTH = 1 << 20
TRUNCATED_BELOW = 0.9  # a server count under 90% of what was sent means the prompt was cut
DEFAULT_TASKS = ("niah_single", "nolima")
DEFAULT_DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
SWEEPS = {
    "shared": "the depths of one sample share one haystack with a needle per depth (distinct keys), asked one at a "
              "time, so the other needles are distractors (harder than a lone needle; tasks with needles of their "
              "own run isolated)",
    "isolated": "one needle per prompt",
}
ProgressFn = Callable[[int, int, int], None]  # (finished, total, errors)


@dataclass(frozen=True)
class Threshold:
    """The bar a length's accuracy must clear: absolute, or relative to the model's own shortest-length score."""

    relative: bool
    value: float

    def __str__(self) -> str:
        return f"relative:{self.value:g}" if self.relative else f"{self.value:g}"


def parse_threshold(text: str) -> Threshold:
    match = re.fullmatch(r"\s*(relative:)?\s*(\d*\.?\d+)\s*", text)
    value = float(match.group(2)) if match else -1.0
    if match is None or not 0 < value <= 1:
        raise ContextError(f"bad threshold {text!r}: give a share in (0, 1] such as 0.856, or relative:0.9")
    return Threshold(bool(match.group(1)), value)


def parse_lengths(text: str) -> list[int] | None:
    """"1k,2k,4k" -> [1024, 2048, 4096]; "auto" -> None (powers of two from 512 up to the claimed length)."""
    if text.strip().lower() == "auto":
        return None
    try:
        lengths = sorted({parse_context_length(part) for part in text.split(",") if part.strip()})
    except ConfigError as err:
        raise ContextError(f"--lengths: {err}") from None
    if not lengths:
        raise ContextError("--lengths: give at least one length, e.g. 1k,2k,4k, or auto")
    return lengths


def parse_depths(text: str) -> tuple[float, ...]:
    try:
        depths = tuple(sorted({float(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise ContextError(f"--depths: bad number in {text!r}; give fractions such as 0,0.5,1") from None
    if not depths or not all(0 <= d <= 1 for d in depths):
        raise ContextError(f"--depths: give fractions between 0 and 1, got {text!r}")
    return depths


def auto_lengths(claimed: int) -> list[int]:
    lengths = [512]
    while lengths[-1] * 2 <= claimed:
        lengths.append(lengths[-1] * 2)
    return lengths if lengths[-1] == claimed or claimed < 512 else [*lengths, claimed]


@dataclass
class ContextOptions:
    lengths: list[int] | None = None
    depths: tuple[float, ...] = DEFAULT_DEPTHS
    tasks: tuple[str, ...] = DEFAULT_TASKS
    samples: int = 4
    claimed: int | None = None
    threshold: Threshold = field(default_factory=lambda: Threshold(False, RULER_THRESHOLD))
    haystack: str = "prose"
    concurrency: int = 4
    seed: int = 0
    log_dir: Path = Path("glassboard-runs")
    sweep: str = "shared"  # see the module docstring

    def shares(self, task: ContextTask) -> bool:
        """Whether this task's depths of one sample share a haystack (one needle per depth)."""
        return (self.sweep == "shared" and task.shared is not None and len(self.depths) > 1
                and len(self.depths) <= task.max_shared)


@dataclass(frozen=True)
class Job:
    task: ContextTask
    length: int
    depth: float | None
    sample: int

    @property
    def id(self) -> str:
        return f"{self.task.name}|{self.length}|{self.depth}|{self.sample}"


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big")


def _prepare(hub: Any, name: str, options: ContextOptions) -> tuple[Any, int | None, list[int], list[str]]:
    if options.samples < 1 or options.concurrency < 1:
        raise ContextError("--samples and --concurrency must be at least 1")
    if options.sweep not in SWEEPS:
        raise ContextError(f"unknown sweep '{options.sweep}'; known: {', '.join(SWEEPS)}")
    if options.haystack not in HAYSTACKS:
        raise ContextError(f"unknown haystack '{options.haystack}'; known: {', '.join(HAYSTACKS)}")
    variant = hub.registry.get(name)
    claimed = options.claimed or variant.claimed_context
    if options.lengths is None and claimed is None:
        raise ContextError(f"'{variant.name}' has no claimed_context: give --claimed or --lengths")
    lengths = options.lengths or auto_lengths(claimed)
    if lengths[-1] > MAX_LENGTH:
        raise ContextError(f"length {lengths[-1]} is above the longest prompt this audit builds ({MAX_LENGTH})")
    notes = []
    if variant.backend == "llama_cpp" and variant.option("n_ctx") is None:
        n_ctx = lengths[-1] + 256
        options_ = tuple(sorted((*variant.options, ("n_ctx", n_ctx))))
        variant = dataclasses.replace(variant, options=options_)
        notes.append(f"the variant sets no n_ctx: loaded with n_ctx = {n_ctx} (its longest prompt + answer)")
    return variant, claimed, lengths, notes


def _jobs(tasks: list[ContextTask], lengths: list[int], options: ContextOptions) -> list[Job]:
    # Depths of one (task, length, sample) share a haystack and run one after another (isolated: deepest first), so
    # llama.cpp reuses the prompt prefix: up to the question when shared, up to the needle when isolated.
    return [Job(task, length, depth, sample) for task in tasks for length in lengths
            for sample in range(options.samples)
            for depth in (sorted(options.depths, reverse=True) if task.uses_depth else [None])]


async def audit_context(hub: Any, name: str, options: ContextOptions, progress: ProgressFn | None = None
                        ) -> ContextReport:
    """Run the grid on `name` (resuming from its log) and report effective length, verdict and cells."""
    started = time.perf_counter()
    tasks = get_tasks(list(options.tasks))
    variant, claimed, lengths, notes = _prepare(hub, name, options)
    model = hub.get(variant)
    measure = await measure_for(model)
    counts = TokenCounts(measure.count)
    for task in tasks:
        smallest = fixed_tokens(task.make(random.Random(0), 0.5, options.haystack).layout, counts) + measure.overhead
        if lengths[0] < smallest + 8:
            raise ContextError(f"length {lengths[0]} is below what task '{task.name}' can reach: its prompt "
                               f"needs about {smallest} tokens before any haystack")
    jobs = _jobs(tasks, lengths, options)
    log_path = default_log_path(options.log_dir, "context", variant.name, variant.id)
    keys = {job.id: (job.id, 1, f"{options.seed}:{options.haystack}:{measure.method}"
                               f"{':shared' if options.shares(job.task) else ''}") for job in jobs}
    done = read_records(log_path, ContextRecord.from_json).finished() if log_path.exists() else set()
    todo = [job for job in jobs if keys[job.id] not in done]
    state = {"finished": len(jobs) - len(todo), "errors": 0}
    header = {"type": "header", "audit": "context", "variant": variant.snapshot(), "seed": options.seed,
              "haystack": options.haystack, "sweep": options.sweep, "measure": measure.method,
              "overhead": measure.overhead,
              "time": time.time(), "to_request": len(todo)}
    pool = prose_pool()
    counts.prefetch([*pool, *NOISE_UNITS])
    verify = measure.count if measure.local else None
    if measure.exact and not measure.local:
        # A remote tokenizer costs a request per call: check once that unit counts add up, then trust the sum
        # (every sample still stores the server's own count of what it received).
        layout = tasks[0].make(random.Random(0), 0.5, options.haystack).layout
        probe = build_prompt(layout, lengths[0] - measure.overhead, counts, random.Random(0), pool=pool,
                             verify=measure.count)
        if probe.tokens != lengths[0] - measure.overhead:
            verify = measure.count

    async def run(job: Job) -> dict[str, Any]:
        base = _seed(options.seed, job.task.name, job.length, job.sample)
        instance, questions = _instance(job, base, options)

        def build() -> BuiltPrompt:
            room = max(map(counts, questions)) - counts(instance.layout.question)  # siblings share one haystack
            return build_prompt(instance.layout, job.length - measure.overhead, counts, random.Random(base),
                                pool=pool, verify=verify, room=room)

        # A remote tokenizer's counts of new units are requests: off the event loop, so other samples' go on.
        built = build() if measure.local else await asyncio.to_thread(build)
        record: dict[str, Any] = {"type": "sample", "id": job.id, "epoch": 1, "prompt_hash": keys[job.id][2],
                                  "task": job.task.name, "length": job.length, "depth": job.depth,
                                  "sample": job.sample, "expected": list(instance.expected),
                                  "sent_tokens": built.tokens + measure.overhead, "exact": built.exact}
        try:
            completion = await model.complete(built.text, max_tokens=instance.max_tokens, temperature=0.0,
                                              seed=base % 2**31)
        except ModelError as err:
            if not is_window_error(err):
                state["errors"] += 1
                return {**record, "status": "error", "error": {"kind": err.kind, "message": str(err)}}
            return {**record, "status": "ok", "truncated": True, "truncation": f"refused: {err}", "score": None}
        reported = completion.prompt_tokens
        cut = reported is not None and reported < TRUNCATED_BELOW * record["sent_tokens"]
        return {**record, "status": "ok", "prompt_tokens": reported, "response": completion.text,
                "finish_reason": completion.finish_reason, "truncated": cut,
                "truncation": f"server counted {reported} of {record['sent_tokens']} tokens" if cut else None,
                "score": None if cut else recall(completion.text, instance.expected)}

    with LogWriter(log_path) as writer:
        writer.write(header)
        queue = iter(todo)

        async def worker() -> None:
            for job in queue:
                writer.write({**await run(job), "time": time.time()})
                state["finished"] += 1

        ticker = asyncio.create_task(_tick(state, len(jobs), progress)) if progress else None
        try:
            await asyncio.gather(*(worker() for _ in range(min(options.concurrency, len(todo)))))
        finally:
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
    records = read_records(log_path, ContextRecord.from_json).records
    chosen = [records[key] for key in (keys[job.id] for job in jobs) if key in records]
    s = summarize(chosen, lengths, claimed, options.threshold)
    return ContextReport(
        **shallow_fields(s), model=variant.name, tasks=[t.name for t in tasks], depths=list(options.depths),
        samples=options.samples, haystack=options.haystack, sweep=options.sweep, measure=measure.method,
        template_tokens=measure.overhead, caveats=[*measure.caveats, *notes, *_sweep_notes(tasks, options)],
        log=str(log_path), variant=variant.snapshot(), elapsed_s=round(time.perf_counter() - started, 2))


def _sweep_notes(tasks: list[ContextTask], options: ContextOptions) -> list[str]:
    crowded = [t.name for t in tasks if options.sweep == "shared" and t.shared is not None
               and len(options.depths) > t.max_shared]
    return [f"{', '.join(crowded)}: more depths than distinct needles, so run with one needle per prompt"
            ] if crowded else []


def _instance(job: Job, base: int, options: ContextOptions) -> tuple[Instance, list[str]]:
    """The job's instance and the questions of every instance that shares its haystack (itself included)."""
    if options.shares(job.task) and job.task.shared is not None:
        depths = list(options.depths)
        shared = job.task.shared(random.Random(_seed(base, "shared")), depths, options.haystack)
        return shared[depths.index(job.depth or 0.0)], [i.layout.question for i in shared]
    instance = job.task.make(random.Random(_seed(base, job.depth)), job.depth or 0.0, options.haystack)
    return instance, [instance.layout.question]


async def _tick(state: dict[str, int], total: int, progress: ProgressFn) -> None:
    try:
        while True:
            progress(state["finished"], total, state["errors"])
            await asyncio.sleep(0.25)
    finally:
        progress(state["finished"], total, state["errors"])


def _estimate(scores: list[float]) -> tuple[int, float | None, float | None, float | None]:
    """(n, accuracy, ci_low, ci_high), the interval clipped to [0, 1]."""
    est = mean_ci(scores, proportion=True)
    return est.n, est.mean, _clip(est.ci_low), _clip(est.ci_high)


def _clip(x: float | None) -> float | None:
    return None if x is None else min(1.0, max(0.0, x))


def summarize(records: list[ContextRecord], lengths: list[int], claimed: int | None, threshold: Threshold
              ) -> ContextSummary:
    """Cells, per-length accuracy, effective lengths (point and conservative) and the verdict."""
    groups: dict[tuple[str, int, float | None], list[ContextRecord]] = {}
    for record in records:
        groups.setdefault((record.task, record.length, record.depth), []).append(record)
    cells = []
    for (task, length, depth), rows in groups.items():
        ok = [r for r in rows if r.ok]
        scores = [r.score for r in ok if r.scored and r.score is not None]
        cut = sum(r.truncated for r in ok)
        cells.append(ContextCell(task, length, depth, *_estimate(scores), truncated=cut > 0, truncated_samples=cut,
                                 errors=len(rows) - len(ok)))
    per_length = []
    for length in lengths:
        rows = [r for r in records if r.length == length and r.ok]
        scored = [r for r in rows if r.scored and r.score is not None]
        # The depths of one (task, sample) share a haystack: clustered, so a length's interval is not narrowed by
        # counting answers about one haystack as independent.
        est = clustered_mean_ci([r.score or 0.0 for r in scored], [(r.task, r.sample) for r in scored],
                                proportion=True)
        per_length.append(LengthRow(length, est.n, est.mean, _clip(est.ci_low), _clip(est.ci_high),
                                    truncated_samples=sum(r.truncated for r in rows),
                                    errors=sum(not r.ok for r in records if r.length == length)))
    base = per_length[0].accuracy if per_length else None
    bar = (threshold.value * base if base is not None else None) if threshold.relative else threshold.value

    def effective(value: Callable[[LengthRow], float | None]) -> tuple[int | None, LengthRow | None]:
        best = None
        for row in per_length:
            score = value(row)
            if row.truncated_samples or bar is None or score is None or score < bar:
                return best, row
            best = row.length
        return best, None

    point, stop = effective(lambda row: row.accuracy)
    conservative, _ = effective(lambda row: row.ci_low)
    truncated_at = next((r.length for r in per_length if r.truncated_samples), None)
    return ContextSummary(
        claimed_context=claimed, effective_length=point, effective_length_conservative=conservative,
        threshold=str(threshold), bar=bar, verdict=_verdict(claimed, stop, truncated_at, lengths),
        truncated_at=truncated_at, lengths=per_length,
        cells=sorted(cells, key=lambda c: (c.task, c.length, c.depth or 0)), errors=sum(not r.ok for r in records))


def _verdict(claimed: int | None, stop: LengthRow | None, truncated_at: int | None, lengths: list[int]) -> str:
    """Provider truncation within the claim comes first (the endpoint cannot serve the claim, whatever the model
    does); a model that already fell short at a shorter length is named with it."""
    short = stop.length if stop is not None and not stop.truncated_samples else None
    if stop is not None and short is not None and stop.n == 0:
        # Nothing scored at this length (every sample an error): no evidence either way, so no verdict past it.
        cut = f"; truncated by provider at {truncated_at}" if truncated_at is not None else ""
        return f"not measured at {short}: every sample failed with an error (re-run to ask them again){cut}"
    if truncated_at is not None and (claimed is None or truncated_at <= claimed):
        before = f" (and falls short at {short})" if short is not None and short < truncated_at else ""
        return f"truncated by provider at {truncated_at}{before}"
    if short is not None and (claimed is None or short <= claimed):
        return f"falls short at {short}"
    if claimed is None:
        return "no claimed length; every tested length clears the bar"
    if lengths[-1] < claimed:
        return f"holds up to {lengths[-1]} (the claim of {claimed} is not tested)"
    return "holds"
