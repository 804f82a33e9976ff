"""Provider audit: one model behind several endpoints; accuracy, paired differences and identity vs a reference."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from glassboard.audit.identity import IdentityOptions, IdentityReport, IdentitySettings, SampleCache, audit_identity
from glassboard.bench.summary import RunSummary, Scoring
from glassboard.models.types import ConfigError
from glassboard.schema import JsonRecord, SampleRecord

if TYPE_CHECKING:
    from glassboard.bench.runner import RunResult

Progress = Callable[[int], None]

RULE = (
    "An endpoint is flagged when its paired accuracy difference against the reference has a 95% CI that excludes "
    "0, when its share of unparsed or length-truncated answers differs from the reference's with a 95% CI that "
    "excludes 0, or when the identity test says 'different'."
)


@dataclass(frozen=True, slots=True)
class PairedShare(JsonRecord):
    """A per-question 0/1 property (correct, unparsed, truncated): endpoint vs reference, paired over questions."""

    endpoint: float
    reference: float
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool


@dataclass(frozen=True, slots=True)
class EndpointIdentity(JsonRecord):
    """The identity test of an endpoint against the reference: the IdentityReport's outcome and settings."""

    statistic: float
    p_value: float
    samples: int
    verdict: Literal["same", "different"]
    within_a: float
    within_b: float
    across: float
    settings: IdentitySettings

    @classmethod
    def of(cls, report: IdentityReport) -> EndpointIdentity:
        return cls(report.statistic, report.p_value, report.samples, report.verdict, report.within_a,
                   report.within_b, report.across, report.settings)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointReport(JsonRecord):
    """One endpoint's row: its score, and (other than the reference) how it compares with the reference.

    In JSON the reference's row has `reference: true` and no comparison keys; the others have the three
    comparisons (null when no question was shared), `identity` when the test ran, and no `reference` key."""

    model: str
    variant_id: str
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    strict_accuracy: float | None
    lenient_accuracy: float | None
    n: int
    errors: int
    unparsed_rate: float | None
    truncated_rate: float | None
    mean_completion_tokens: float | None
    log: str
    stopped: str | None
    reference: bool = False
    vs_reference: PairedShare | None = None
    unparsed_vs_reference: PairedShare | None = None
    truncated_vs_reference: PairedShare | None = None
    identity: EndpointIdentity | None = None
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = JsonRecord.to_json(self)
        drop = {"vs_reference", "unparsed_vs_reference", "truncated_vs_reference", "identity"} if self.reference \
            else {"reference"} | ({"identity"} if self.identity is None else set())
        return {k: v for k, v in data.items() if k not in drop}


@dataclass(frozen=True, slots=True)
class DataFile(JsonRecord):
    """The benchmark data every endpoint was asked: where it came from, its hash, how many items."""

    source: str
    sha256: str | None
    items: int


@dataclass(frozen=True, slots=True)
class ProvidersReport(JsonRecord):
    """`audit providers`: every endpoint's score and its comparisons with the first (the reference)."""

    audit: Literal["providers"] = field(default="providers", init=False)
    task: str
    data: DataFile
    reference: str
    scoring: str
    endpoints: list[EndpointReport]
    flagged: list[str]
    rule: str
    variants: list[dict[str, Any]]  # each endpoint's variant snapshot (models layer)
    elapsed_s: float
    cpu_s: float


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
                          ) -> PairedShare | None:
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
    return PairedShare(diff.mean_a, diff.mean_b, diff.diff.mean, diff.diff.ci_low, diff.diff.ci_high, diff.significant)


def _endpoint_row(name: str, result: RunResult, scoring: Scoring) -> EndpointReport:
    """The endpoint's own score (the comparisons with the reference are added by the audit)."""
    summary = result.summary
    score = getattr(summary, scoring)
    low, high = score.ci
    ok = [r for r in summary.records if r.ok]
    tokens = [r.completion_tokens for r in ok if r.completion_tokens is not None]
    return EndpointReport(
        model=name, variant_id=summary.variant_id, accuracy=score.accuracy, ci_low=low, ci_high=high,
        strict_accuracy=summary.strict.accuracy, lenient_accuracy=summary.lenient.accuracy, n=summary.n,
        errors=summary.errors, unparsed_rate=score.unparsed_rate,
        truncated_rate=sum(r.finish_reason == "length" for r in ok) / len(ok) if ok else None,
        mean_completion_tokens=sum(tokens) / len(tokens) if tokens else None, log=str(result.log_path),
        stopped=result.stopped,
    )


async def audit_providers(
    hub: Any,
    names: Sequence[str],
    task: Any,
    dataset: Any,
    options: ProvidersOptions,
    progress: Progress | None = None,
    eval_progress: Any = None,
) -> ProvidersReport:
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

    endpoints = [replace(rows[0], reference=True)]
    for row, variant, result in zip(rows[1:], variants[1:], results[1:], strict=True):
        paired = _indicator_difference(ref_summary, result.summary, lambda r: r.reading(scored).correct)
        shares = {label: _indicator_difference(ref_summary, result.summary, test)
                  for label, test in (("unparsed", unparsed), ("length-truncated", truncated))}
        reasons = []
        if paired and paired.significant:
            reasons.append(f"accuracy differs from the reference by {paired.diff:+.3f} (95% CI excludes 0)")
        for label, share in shares.items():
            if share and share.significant:
                reasons.append(f"share of {label} answers differs by {share.diff:+.3f} (95% CI excludes 0)")
        identity = None
        if options.run_identity:
            report = await audit_identity(hub, variants[0].name, variant.name, replace(options.identity),
                                          progress, cache)
            identity = EndpointIdentity.of(report)
            if report.verdict == "different":
                reasons.append(f"identity test: different from the reference (p = {report.p_value:.4f})")
        endpoints.append(replace(
            row, vs_reference=paired, unparsed_vs_reference=shares["unparsed"],
            truncated_vs_reference=shares["length-truncated"], identity=identity, flagged=bool(reasons),
            reasons=reasons))
    return ProvidersReport(
        task=task.name, data=DataFile(dataset.source, dataset.sha256, len(dataset.samples)),
        reference=variants[0].name, scoring=options.scoring, endpoints=endpoints,
        flagged=[e.model for e in endpoints if e.flagged], rule=RULE, variants=[v.snapshot() for v in variants],
        elapsed_s=round(time.perf_counter() - started, 2), cpu_s=round(time.process_time() - cpu, 2),
    )
