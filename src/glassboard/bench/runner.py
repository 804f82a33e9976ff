"""The eval runner: bounded concurrency over the model layer; each finished sample is stored at once; resumable."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glassboard.bench.log import Key, LogWriter, default_log_path, read_log
from glassboard.bench.protocol_render import Renderer
from glassboard.bench.scoring import SCORER_VERSION, score
from glassboard.bench.summary import RunSummary, summarize_contents
from glassboard.bench.tasks import Prompt, Sample, Task, shuffle_seed
from glassboard.models.hub import ModelHub
from glassboard.models.registry import Variant
from glassboard.models.types import ConfigError, ModelError
from glassboard.schema import SampleError, SampleRecord

DEFAULT_LOG_DIR = Path("glassboard-runs")
# Errors that mean "every further request will fail too": stop instead of burning through the data set.
FATAL_KINDS = frozenset({"connection", "not_found"})
FATAL_STATUSES = frozenset({401, 403})
PROGRESS_HZ = 4  # progress is reported on a timer, never per sample (rendering costs CPU)
# (finished, total, errors): the CLI draws it as a progress bar; the runner itself never prints.
ProgressFn = Callable[[int, int, int], None]


@dataclass
class RunResult:
    """One invocation: what it asked for, what it skipped because the log already had it, and the summary."""

    log_path: Path
    summary: RunSummary
    keys: list[Key]
    requested: int  # samples sent to the model in this invocation
    resumed: int  # samples already finished in the log (not requested again)
    errors: int  # model errors in this invocation
    stopped: str | None  # why the run stopped early (endpoint down), else None
    elapsed_s: float


def with_overrides(variant: Variant, **params: Any) -> Variant:
    """The variant with sampling overrides: a different behaviour, hence a different id (and run log)."""
    merged = variant.params.merged(**params)
    return variant if merged == variant.params else dataclasses.replace(variant, params=merged)


def render(task: Task, samples: Sequence[Sample], epochs: int) -> list[Prompt]:
    """Every (sample, epoch) prompt, epoch-major so an interrupted run has whole epochs first."""
    return [task.render(sample, epoch) for epoch in range(1, epochs + 1) for sample in samples]


async def run_eval(
    hub: ModelHub,
    variant: str | Variant,
    task: Task,
    samples: Sequence[Sample],
    *,
    epochs: int = 1,
    concurrency: int = 16,
    log_path: Path | None = None,
    log_dir: Path = DEFAULT_LOG_DIR,
    data_source: str | None = None,
    data_sha256: str | None = None,
    progress: ProgressFn | None = None,
    stop_after: int = 5,
    renderer: Renderer | None = None,
) -> RunResult:
    """Run `task` on `samples` x `epochs`, resuming from the log: finished samples are not requested again,
    samples that ended in a model error are. Stops early after `stop_after` consecutive fatal errors.
    `renderer` asks under a protocol (issue 12): its prompts, and a log file named by the protocol's hash."""
    if epochs < 1 or concurrency < 1:
        raise ConfigError(f"epochs and concurrency must be at least 1, got {epochs} and {concurrency}")
    if isinstance(variant, str):
        variant = hub.registry.get(variant)
    model = hub.get(variant)
    log_path = log_path or default_log_path(log_dir, task.name, variant.name, variant.id)
    # --- protocols (issue 12): another protocol, another log (a resumed run never mixes protocols) ---
    if renderer is not None:
        log_path = log_path.with_name(log_path.stem + renderer.protocol.log_suffix + log_path.suffix)
        prompts = [renderer.render(s, epoch) for epoch in range(1, epochs + 1) for s in samples]
    else:
        prompts = render(task, samples, epochs)
    keys = [(p.sample.id, p.epoch, p.hash) for p in prompts]
    done = read_log(log_path).finished() if log_path.exists() else set()
    todo = [p for p, key in zip(prompts, keys, strict=True) if key not in done]
    header = {
        "type": "header",
        "glassboard": _version(),
        "task": task.name,
        "variant": variant.snapshot(),
        "sampling": variant.params.as_dict(),
        "data": {"source": data_source, "sha256": data_sha256, "samples": len(samples)},
        "epochs": epochs,
        "concurrency": concurrency,
        "template": task.template if renderer is None else renderer.protocol.question,
        "protocol": None if renderer is None else renderer.protocol.as_dict(),
        "scorer": SCORER_VERSION,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "time": time.time(),
        "to_request": len(todo),
    }
    started = time.perf_counter()
    state = _State(len(prompts), len(prompts) - len(todo))
    with LogWriter(log_path) as writer:
        writer.write(header)
        if todo:
            await _run(model, variant, task, todo, writer, state, concurrency, stop_after, progress, renderer)
    summary = summarize_contents(read_log(log_path), keys, task.kind)
    return RunResult(log_path, summary, keys, state.requested, len(prompts) - len(todo), state.errors, state.stopped,
                     time.perf_counter() - started)


class _State:
    __slots__ = ("total", "finished", "requested", "errors", "fatal_streak", "stopped")

    def __init__(self, total: int, finished: int):
        self.total = total
        self.finished = finished
        self.requested = 0
        self.errors = 0
        self.fatal_streak = 0
        self.stopped: str | None = None


async def _run(model: Any, variant: Variant, task: Task, todo: list[Prompt], writer: LogWriter, state: _State,
               concurrency: int, stop_after: int, progress: ProgressFn | None, renderer: Renderer | None) -> None:
    base_seed = variant.params.seed or 0
    variant_id = variant.id  # hashed once: the id is a sha256 of the variant's behaviour
    pending = iter(todo)
    workers: list[asyncio.Task[None]] = []

    async def worker() -> None:
        # A fixed pool of workers pulling from one iterator: no per-sample task or semaphore churn.
        for prompt in pending:
            if state.stopped:
                return
            sample = prompt.sample
            base = SampleRecord(variant=variant_id, task=task.name, id=sample.id, epoch=prompt.epoch,
                                prompt_hash=prompt.hash, status="ok", target=prompt.target, letters=prompt.letters,
                                cluster=sample.cluster, prompt=prompt.text)
            state.requested += 1
            # A per-sample seed: reproducible, and different across epochs even when the variant fixes one.
            seed = (base_seed + shuffle_seed(sample.id, prompt.epoch)) % 2**31
            try:
                messages = prompt.text if renderer is None else renderer.messages(prompt)
                completion = await model.complete(messages, seed=seed)
            except ModelError as err:
                failed = dataclasses.replace(base, status="error", error=SampleError(err.kind, str(err), err.status),
                                             time=time.time())
                writer.write(failed.to_json())
                state.errors += 1
                if err.kind in FATAL_KINDS or err.status in FATAL_STATUSES:
                    state.fatal_streak += 1
                    if state.fatal_streak >= stop_after and not state.stopped:
                        state.stopped = f"{stop_after} consecutive '{err.kind}' errors, last: {err}"
                        current = asyncio.current_task()
                        for other in workers:  # in-flight requests are abandoned (not stored, asked again later)
                            if other is not current:
                                other.cancel()
                continue
            state.fatal_streak = 0
            done = dataclasses.replace(
                base, response=completion.text, finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
                latency_s=round(completion.total_s, 4), scorer=SCORER_VERSION if task.scored else None,
                scored=score(completion.text, task.kind, prompt.target, prompt.letters) if task.scored else None,
                time=time.time(),
            )
            writer.write(done.to_json())
            state.finished += 1

    workers.extend(asyncio.create_task(worker()) for _ in range(min(concurrency, len(todo))))
    ticker = asyncio.create_task(_tick(state, progress)) if progress is not None else None
    try:
        # Workers cancelled by an early stop come back as CancelledError; anything else is a bug: re-raise it.
        for result in await asyncio.gather(*workers, return_exceptions=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
    finally:
        for other in workers:
            other.cancel()
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)


async def _tick(state: _State, progress: ProgressFn) -> None:
    """Report (finished, total, errors) on a timer, never per sample (a redraw costs CPU)."""
    try:
        while True:
            progress(state.finished, state.total, state.errors)
            await asyncio.sleep(1 / PROGRESS_HZ)
    finally:
        progress(state.finished, state.total, state.errors)


def _version() -> str:
    from glassboard import __version__

    return __version__
