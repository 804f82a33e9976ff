"""Provider audit: one model behind several endpoints; accuracy, paired differences and identity vs a reference."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glassboard.audit.identity import IdentityOptions, SampleCache, audit_identity
from glassboard.bench.summary import RunSummary, Scoring
from glassboard.models.types import ConfigError
from glassboard.schema import SampleRecord

if TYPE_CHECKING:
    from glassboard.bench.runner import RunResult

Progress = Callable[[int], None]

RULE = (
    "An endpoint is flagged when its paired accuracy difference against the reference has a 95% CI that excludes "
    "0, when its share of unparsed or length-truncated answers differs from the reference's with a 95% CI that "
    "excludes 0, or when the identity test says 'different'."
)


@dataclass
class ProvidersOptions:
    """The eval budget (the bench runner's) and the identity test's budget (kept small: it runs per endpoint)."""

    epochs: int = 1
    concurrency: int = 4
    scoring: Scoring = "lenient"
    log_dir: Path = Path("glassboard-runs")
    identity: IdentityOptions = field(default_factory=lambda: IdentityOptions(samples=8, logprobs=False))  # 10 prompts
    run_identity: bool = True

    def validate(self) -> None:
        if self.epochs < 1 or self.concurrency < 1:
            raise ConfigError("--epochs and --concurrency must be at least 1")
        if self.scoring not in ("strict", "lenient"):
            raise ConfigError(f"scoring must be 'strict' or 'lenient', got {self.scoring!r}")
        if self.run_identity:
            self.identity.validate()


def _indicator_difference(ref: RunSummary, run: RunSummary, test: Callable[[SampleRecord], bool]
                          ) -> dict[str, Any] | None:
    """Paired difference (endpoint - reference) of a per-question 0/1 property averaged over epochs."""
    from glassboard.bench.stats import paired_difference

    def per_question(summary: RunSummary) -> dict[str, float]:
        groups: dict[str, list[float]] = {}
        for record in summary.records:
            if record.ok:
                groups.setdefault(record.id, []).append(1.0 if test(record) else 0.0)
        return {q: sum(v) / len(v) for q, v in groups.items()}

    try:
        diff = paired_difference(per_question(run), per_question(ref))
    except ValueError:  # no shared scored questions (an endpoint that only errored)
        return None
    return {"endpoint": diff.mean_a, "reference": diff.mean_b, "diff": diff.diff.mean, "ci_low": diff.diff.ci_low,
            "ci_high": diff.diff.ci_high, "significant": diff.significant}


def _endpoint_row(name: str, result: RunResult, scoring: Scoring) -> dict[str, Any]:
    summary = result.summary
    score = getattr(summary, scoring)
    low, high = score.ci
    ok = [r for r in summary.records if r.ok]
    tokens = [r.completion_tokens for r in ok if r.completion_tokens is not None]
    return {
        "model": name,
        "variant_id": summary.variant_id,
        "accuracy": score.accuracy,
        "ci_low": low,
        "ci_high": high,
        "strict_accuracy": summary.strict.accuracy,
        "lenient_accuracy": summary.lenient.accuracy,
        "n": summary.n,
        "errors": summary.errors,
        "unparsed_rate": score.unparsed_rate,
        "truncated_rate": sum(r.finish_reason == "length" for r in ok) / len(ok) if ok else None,
        "mean_completion_tokens": sum(tokens) / len(tokens) if tokens else None,
        "log": str(result.log_path),
        "stopped": result.stopped,
    }


async def audit_providers(
    hub: Any,
    names: Sequence[str],
    task: Any,
    dataset: Any,
    options: ProvidersOptions,
    progress: Progress | None = None,
    eval_progress: Any = None,
) -> dict[str, Any]:
    """Run `task` through every endpoint (the first is the reference) and compare each with the reference."""
    from glassboard.bench.runner import run_eval

    options.validate()
    if len(names) < 2:
        raise ConfigError("the providers audit needs at least two models: a reference and one endpoint")
    if len({name.lower() for name in names}) != len(names):
        raise ConfigError("each model may be given once")
    variants = [hub.registry.get(name) for name in names]
    started, cpu = time.perf_counter(), time.process_time()
    results = []
    for variant in variants:
        results.append(await run_eval(
            hub, variant, task, dataset.samples, epochs=options.epochs, concurrency=options.concurrency,
            log_dir=options.log_dir, data_source=dataset.source, data_sha256=dataset.sha256,
            progress=eval_progress,
        ))
    rows = [_endpoint_row(v.name, r, options.scoring) for v, r in zip(variants, results, strict=True)]
    ref_summary = results[0].summary
    cache: SampleCache = {}
    scored = options.scoring

    def unparsed(record: SampleRecord) -> bool:
        return record.reading(scored).answer is None

    def truncated(record: SampleRecord) -> bool:
        return record.finish_reason == "length"

    for row, variant, result in zip(rows[1:], variants[1:], results[1:], strict=True):
        paired = _indicator_difference(ref_summary, result.summary, lambda r: r.reading(scored).correct)
        row["vs_reference"] = paired
        row["unparsed_vs_reference"] = _indicator_difference(ref_summary, result.summary, unparsed)
        row["truncated_vs_reference"] = _indicator_difference(ref_summary, result.summary, truncated)
        reasons = []
        if paired and paired["significant"]:
            reasons.append(f"accuracy differs from the reference by {paired['diff']:+.3f} (95% CI excludes 0)")
        for key, label in (("unparsed_vs_reference", "unparsed"), ("truncated_vs_reference", "length-truncated")):
            if row[key] and row[key]["significant"]:
                reasons.append(f"share of {label} answers differs by {row[key]['diff']:+.3f} (95% CI excludes 0)")
        if options.run_identity:
            identity = await audit_identity(hub, variants[0].name, variant.name, replace(options.identity),
                                            progress, cache)
            data = identity.to_json()
            row["identity"] = {k: data[k] for k in ("statistic", "p_value", "samples", "verdict", "within_a",
                                                    "within_b", "across", "settings")}
            if identity.verdict == "different":
                reasons.append(f"identity test: different from the reference (p = {identity.p_value:.4f})")
        row["flagged"] = bool(reasons)
        row["reasons"] = reasons
    rows[0].update(reference=True, flagged=False, reasons=[])
    return {
        "audit": "providers",
        "task": task.name,
        "data": {"source": dataset.source, "sha256": dataset.sha256, "items": len(dataset.samples)},
        "reference": variants[0].name,
        "scoring": options.scoring,
        "endpoints": rows,
        "flagged": [row["model"] for row in rows if row["flagged"]],
        "rule": RULE,
        "variants": [v.snapshot() for v in variants],
        "elapsed_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
    }
