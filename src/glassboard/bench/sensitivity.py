"""Protocol sensitivity and claim checks: the same questions asked and scored under several protocols.

`run_under` runs one task under one protocol (its sampling overrides applied, its own run log, resumable);
`sensitivity` reports a row per protocol with a paired difference against the first (same questions), and the
largest gap, as a typed SensitivityReport (`to_json()` is what `audit protocols --json` writes); `plan_claims`
checks every claim's task and protocol before anything runs (built-in or declared in the user's task and protocol
files), and `check_claims` measures each under its protocol and under glassboard's.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from glassboard.bench.claims import verdict
from glassboard.bench.claimsfile import Claim, ClaimsError
from glassboard.bench.protocol import Protocol, load_file
from glassboard.bench.protocol_render import Renderer, prepare
from glassboard.bench.protocol_score import ProtocolRun, question_credits
from glassboard.bench.runner import DEFAULT_LOG_DIR, RunResult, run_eval, with_overrides
from glassboard.bench.stats import PairedDifference, paired_difference
from glassboard.bench.tasks import Dataset, Task, get_task
from glassboard.models.hub import ModelHub
from glassboard.models.registry import Variant
from glassboard.models.types import ConfigError
from glassboard.schema import JsonRecord, omitted_if_none, shallow_fields


@dataclass(frozen=True, slots=True)
class Options:
    """How each run is made: shared by every protocol of one sensitivity audit or claims check."""

    concurrency: int = 4
    log_dir: Path = DEFAULT_LOG_DIR
    max_tokens: int | None = None  # the user's override wins over the protocol's


async def run_under(hub: ModelHub, variant: Variant, task: Task, dataset: Dataset, renderer: Renderer,
                    options: Options) -> tuple[RunResult, ProtocolRun]:
    """One task under one protocol; the protocol's sampling overrides make a variant (and run log) of their own."""
    asked = with_overrides(with_overrides(variant, **renderer.protocol.sampling), max_tokens=options.max_tokens)
    result = await run_eval(hub, asked, task, dataset.samples, concurrency=options.concurrency,
                            log_dir=options.log_dir, data_source=dataset.source, data_sha256=dataset.sha256,
                            renderer=renderer)
    return result, ProtocolRun.of(renderer.protocol, result.summary)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolInfo(JsonRecord):
    """Which protocol a row was scored under (Protocol.as_dict: `overrides` only when the protocol has some)."""

    name: str
    version: int
    sha256: str
    status: Literal["verified", "unverified"]
    source: dict[str, Any]
    overrides: dict[str, Any] | None = omitted_if_none()

    @classmethod
    def of(cls, protocol: Protocol) -> ProtocolInfo:
        return cls(name=protocol.name, version=protocol.version, sha256=protocol.sha256, status=protocol.status,
                   source=protocol.source, overrides=protocol.overrides or None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffVsFirst(JsonRecord):
    """A protocol's score minus the first protocol's over their shared questions (PairedDifference.as_dict).

    When every shared question scored the same, the spread gives a zero-width interval: none is reported (the
    interval and SE are None) and `note` says why."""

    n: int
    mean_a: float
    mean_b: float
    diff: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    correlation: float | None
    significant: bool
    note: str | None = omitted_if_none()

    @property
    def identical(self) -> bool:
        return self.note is not None

    @classmethod
    def of(cls, paired: PairedDifference) -> DiffVsFirst:
        d = paired.diff
        if d.se == 0:
            return cls(n=paired.n, mean_a=paired.mean_a, mean_b=paired.mean_b, diff=d.mean, se=None, ci_low=None,
                       ci_high=None, correlation=paired.correlation, significant=paired.significant,
                       note="identical on every shared question")
        return cls(n=paired.n, mean_a=paired.mean_a, mean_b=paired.mean_b, diff=d.mean, se=d.se, ci_low=d.ci_low,
                   ci_high=d.ci_high, correlation=paired.correlation, significant=paired.significant)


@dataclass(frozen=True, slots=True, kw_only=True)
class SensitivityRow(JsonRecord):
    """One protocol: its score as its publisher computes it, its run, and the difference against the first."""

    protocol: ProtocolInfo
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    unparsed_rate: float | None
    n: int
    rungs: dict[str, int]  # how many answers each ladder rung read
    errors: int
    log: str
    diff_vs_first: DiffVsFirst | None  # None for the first protocol, or with no shared scored question

    @classmethod
    def of(cls, run: ProtocolRun, log: Path, errors: int, versus_first: PairedDifference | None) -> SensitivityRow:
        return cls(**shallow_fields(run.score), protocol=ProtocolInfo.of(run.protocol), errors=errors, log=str(log),
                   diff_vs_first=None if versus_first is None else DiffVsFirst.of(versus_first))


@dataclass(frozen=True, slots=True)
class LargestGap(JsonRecord):
    """The largest difference between two protocols' scores, and which protocols they are."""

    gap: float
    highest: str
    lowest: str


@dataclass(frozen=True, slots=True)
class SensitivityReport(JsonRecord):
    """`audit protocols`: the same questions under each protocol, and the largest gap between their scores."""

    task: str
    model: str
    questions: int
    protocols: list[SensitivityRow]
    largest_gap: LargestGap | None


def largest_gap(rows: Sequence[SensitivityRow]) -> LargestGap | None:
    """(gap, highest protocol, lowest protocol) between protocol scores; None with fewer than two scores."""
    scored = [(r.accuracy, r.protocol.name) for r in rows if r.accuracy is not None]
    if len(scored) < 2:
        return None
    high, low = max(scored), min(scored)
    return LargestGap(high[0] - low[0], high[1], low[1])


async def sensitivity(hub: ModelHub, variant: Variant, task: Task, dataset: Dataset, renderers: Sequence[Renderer],
                      options: Options) -> SensitivityReport:
    rows: list[SensitivityRow] = []
    first: Mapping[Hashable, float] | None = None
    for renderer in renderers:
        result, run = await run_under(hub, variant, task, dataset, renderer, options)
        credits = question_credits(renderer.protocol, result.summary.records)
        diff = None
        if first is None:
            first = credits
        elif credits and any(q in first for q in credits):
            diff = paired_difference(credits, first)
        rows.append(SensitivityRow.of(run, result.log_path, result.summary.errors, diff))
    return SensitivityReport(task.name, variant.name, len(dataset.samples), rows, largest_gap(rows))


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claim: Claim
    under_claim: ProtocolRun  # measured under the claim's protocol
    under_glassboard: ProtocolRun

    @property
    def verdicts(self) -> dict[str, str]:
        value, own, ours = self.claim.value, self.under_claim, self.under_glassboard
        return {self.claim.protocol: verdict(value, own.score.ci_low, own.score.ci_high),
                "glassboard strict": verdict(value, *ours.strict[1:]),
                "glassboard lenient": verdict(value, *ours.lenient[1:])}

    @property
    def holds_under(self) -> list[str]:
        return [name for name, result in self.verdicts.items() if result == "consistent"]

    def as_dict(self) -> dict[str, Any]:
        ours = self.under_glassboard
        return {**self.claim.as_dict(), "measured": self.under_claim.score.as_dict(),
                "protocol": self.under_claim.protocol.as_dict(),
                "glassboard": {"strict": dict(zip(("accuracy", "ci_low", "ci_high"), ours.strict, strict=True)),
                               "lenient": dict(zip(("accuracy", "ci_low", "ci_high"), ours.lenient, strict=True))},
                "verdicts": self.verdicts, "holds_under": self.holds_under}


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    """A claim with its task and the renderers of its protocol and of glassboard's, resolved before any run."""

    claim: Claim
    task: Task
    renderer: Renderer
    glassboard: Renderer


def plan_claims(claims: Sequence[Claim], fewshot: Mapping[str, Path], declared: Mapping[str, Task] | None = None,
                protocol_files: Sequence[Path] = ()) -> list[ClaimPlan]:
    """Resolve every claim's task (built in, or `declared` by the user's task files) and protocol (built in for
    the task, or one of `protocol_files` with the claim's protocol name and task); errors name the claims row."""
    declared = declared or {}
    own = {(protocol.task, protocol.name): path for path, protocol in ((p, load_file(p)) for p in protocol_files)}
    plans = []
    for claim in claims:
        try:
            task = declared.get(claim.task) or get_task(claim.task)
        except ConfigError as err:
            hint = f"declared: {', '.join(declared)}" if declared else "none declared"
            raise ClaimsError(f"{claim.where}: {err}; or declare it with --task-file FILE ({hint})") from None
        try:
            path = own.get((task.name, claim.protocol))
            renderer = prepare(task, None if path else claim.protocol, path, fewshot.get(task.name))
        except ConfigError as err:
            raise ClaimsError(f"{claim.where}: {err}") from None
        plans.append(ClaimPlan(claim, task, renderer, prepare(task)))
    return plans


async def check_claims(hub: ModelHub, variants: dict[str, Variant], plans: Sequence[ClaimPlan],
                       data: Mapping[str, Path], limit: int | None, options: Options) -> list[ClaimResult]:
    """Measure each claim under its protocol and under glassboard (same questions, each run resumable)."""
    results = []
    for plan in plans:
        claim, task, own = plan.claim, plan.task, plan.renderer
        dataset = task.load(data.get(task.name), limit)
        _, under_claim = await run_under(hub, variants[claim.model], task, dataset, own, options)
        if own.protocol.sha256 == plan.glassboard.protocol.sha256:
            under_glassboard = under_claim
        else:
            _, under_glassboard = await run_under(hub, variants[claim.model], task, dataset, plan.glassboard,
                                                  options)
        results.append(ClaimResult(claim, under_claim, under_glassboard))
    return results
