"""Inspect AI interop (extra `glassboard[inspect]`): write a run as an Inspect eval log; a `glassboard/` model API."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalError,
    EvalLog,
    EvalMetric,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    EvalStats,
    write_eval_log,
)
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageUser,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    StopReason,
    modelapi,
)
from inspect_ai.scorer import Score
from inspect_ai.tool import ToolChoice, ToolInfo

from glassboard.bench.summary import SCORINGS, RunSummary
from glassboard.schema import SampleRecord


def write_inspect_log(summary: RunSummary, log_dir: Path | str, stopped: str | None = None) -> Path:
    """Write `summary` (with its per-sample records) as an Inspect `.eval` log in `log_dir`; returns its path.

    Each sample carries two scores, "strict" and "lenient" (C/I with the extracted answer and the pattern id);
    samples that ended in a model error carry the error and no score, as in Inspect's own logs. A run that stopped
    early (`stopped` = the reason) is written with status "error"."""
    from glassboard import __version__

    header = _header(summary)
    created = header.get("started") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    run_id = hashlib.sha256(f"{summary.log}|{created}".encode()).hexdigest()[:22]
    model_name = f"glassboard/{summary.model}"
    samples = [_sample(record, model_name) for record in _ordered(summary.records)]
    results = EvalResults(
        total_samples=len(summary.records),
        completed_samples=summary.n,
        scores=[
            EvalScore(
                name=scoring,
                scorer=scoring,
                scored_samples=summary.n,
                unscored_samples=summary.errors,
                metrics={
                    "accuracy": EvalMetric(name="accuracy", value=_num(getattr(summary, scoring).accuracy)),
                    "stderr": EvalMetric(name="stderr", value=_num(getattr(summary, scoring).estimate.se)),
                },
            )
            for scoring in SCORINGS
        ],
    )
    log = EvalLog(
        status="error" if stopped else "success",
        error=EvalError(message=f"run stopped early: {stopped}", traceback="", traceback_ansi="") if stopped else None,
        eval=EvalSpec(
            created=created,
            run_id=run_id,
            task=summary.task,
            task_id=run_id[:12],
            task_version=str(header.get("scorer", "")),
            dataset=EvalDataset(name=summary.task, location=(header.get("data") or {}).get("source"),
                                samples=len({r.id for r in summary.records})),
            model=model_name,
            model_generate_config=GenerateConfig(**_generate_config(header.get("sampling") or {})),
            config=EvalConfig(epochs=summary.epochs),
            packages={"glassboard": __version__},
            metadata={"glassboard_log": str(summary.log), "variant": header.get("variant"),
                      "data_sha256": (header.get("data") or {}).get("sha256"), "errors": summary.errors,
                      "unparsed_rate": summary.unparsed_rate},
        ),
        results=results,
        stats=EvalStats(started_at=created, completed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        samples=samples,
    )
    directory = Path(log_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = created.replace(":", "-")[:19]
    path = directory / f"{stamp}_{summary.task}_{run_id[:8]}.eval"
    write_eval_log(log, str(path))
    return path


def _header(summary: RunSummary) -> dict[str, Any]:
    from glassboard.bench.log import read_log

    return read_log(summary.log).header


def _ordered(records: list[SampleRecord]) -> list[SampleRecord]:
    return sorted(records, key=lambda r: (r.epoch, r.time or 0.0))


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _generate_config(sampling: dict[str, Any]) -> dict[str, Any]:
    mapping = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens", "seed": "seed"}
    config = {ours: sampling.get(key) for key, ours in mapping.items() if sampling.get(key) is not None}
    if sampling.get("stop"):
        config["stop_seqs"] = list(sampling["stop"])
    return config


def _sample(record: SampleRecord, model_name: str) -> EvalSample:
    prompt = ChatMessageUser(content=record.prompt)
    base: dict[str, Any] = {
        "id": record.id,
        "epoch": record.epoch,
        "input": record.prompt,
        "target": record.target,
        "metadata": {"prompt_hash": record.prompt_hash, "cluster": record.cluster, "letters": record.letters},
    }
    if not record.ok or record.scored is None:
        message = record.error.message if record.error is not None and record.error.message else "model error"
        return EvalSample(**base, messages=[prompt],
                          error=EvalError(message=message, traceback="", traceback_ansi=""))
    text = record.response or ""
    stop: StopReason = "max_tokens" if record.finish_reason == "length" else "stop"
    output = ModelOutput.from_content(model=model_name, content=text, stop_reason=stop)
    if record.prompt_tokens is not None or record.completion_tokens is not None:
        inp, out = record.prompt_tokens or 0, record.completion_tokens or 0
        output.usage = ModelUsage(input_tokens=inp, output_tokens=out, total_tokens=inp + out)
    output.time = record.latency_s
    scores: dict[str, Score] = {}
    for scoring in SCORINGS:
        reading = record.reading(scoring)
        scores[scoring] = Score(
            value="C" if reading.correct else "I",
            answer=reading.answer,
            explanation=f"pattern: {reading.pattern or 'none (unparsed)'}",
            metadata={"format_ok": record.scored.format_ok},
        )
    return EvalSample(**base, messages=[prompt, ChatMessageAssistant(content=text, model=model_name)],
                      output=output, scores=scores, total_time=record.latency_s)


@modelapi(name="glassboard")
class GlassboardModelAPI(ModelAPI):
    """Inspect model provider for registry variants: `inspect eval TASK --model glassboard/<variant>`.

    Model args (`-M key=value`): `registry` = path of a glassboard.toml registry (default: $GLASSBOARD_CONFIG,
    ./glassboard.toml or the built-in variants). Requests go through glassboard's model layer (its retries and
    typed errors)."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        from glassboard.models.registry import Registry

        self._registry = Registry.load(model_args.get("registry"))
        self._variant = self._registry.get(model_name)  # unknown names fail here, with the known ones listed
        self._hub: Any = None

    def max_connections(self) -> int:
        default = 1 if self._variant.backend == "llama_cpp" else 32
        return int(self._variant.option("concurrency", default))

    async def aclose(self) -> None:
        if self._hub is not None:
            await self._hub.aclose()
            self._hub = None

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> ModelOutput:
        from glassboard.models.hub import ModelHub

        if tools:
            raise ValueError("the glassboard provider does not support tool calls")
        if self._hub is None:  # created on Inspect's event loop, where the backends' clients will live
            self._hub = ModelHub(self._registry)
        model = self._hub.get(self._variant)
        messages = [{"role": m.role if m.role in ("system", "user", "assistant") else "user", "content": m.text}
                    for m in input]
        completion = await model.complete(
            messages, temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens,
            seed=config.seed, stop=tuple(config.stop_seqs) if config.stop_seqs else None,
        )
        output = ModelOutput.from_content(
            model=self.model_name, content=completion.text,
            stop_reason="max_tokens" if completion.finish_reason == "length" else "stop",
        )
        inp, out = completion.prompt_tokens or 0, completion.completion_tokens or 0
        output.usage = ModelUsage(input_tokens=inp, output_tokens=out, total_tokens=inp + out)
        output.time = completion.total_s
        return output
