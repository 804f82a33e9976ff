"""The typed report of the contamination probes (audit/contamination.py): one record per probe and the whole report.

Why a module of its own: the probes module is long already, and the CLI reads these records too. `to_json()` is the
document `audit contamination --json` writes (field order is the file's key order; a probe that did not run, or
a reference that was not given, leaves its keys out as before); `from_json()` reads one back, validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from glassboard.schema import JsonRecord, omitted_if_none

Verdict = Literal["signal", "no signal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedProbe(JsonRecord):
    """A probe that could not run on this model or these items, and why."""

    probe: str
    items: int | None = omitted_if_none()  # the shuffle probe says how many items it had; Min-K%++ does not
    verdict: Literal["skipped"] = "skipped"
    reason: str


@dataclass(frozen=True, slots=True)
class GuessRecord(JsonRecord):
    """One TS-Guessing item: the masked wrong option, the model's guess, and whether they match."""

    id: str
    masked: str
    guess: str
    match: bool


@dataclass(frozen=True, slots=True)
class TsGuessing(JsonRecord):
    """TS-Guessing: exact-match rate of restored masked options with its Wilson interval and baselines."""

    probe: str
    items: int
    exact_match: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    baseline: float
    baseline_kind: str
    reference_rate: float | None
    min_rate: float
    verdict: Verdict
    rule: str
    records: list[GuessRecord]


@dataclass(frozen=True, slots=True)
class ShuffleRecord(JsonRecord):
    """One item of the shuffle probe: its score in data order, mean score over shuffled orders, letters answered."""

    id: str
    canonical: float
    shuffled: float
    answers: list[str | None]
    canonical_letter: str


@dataclass(frozen=True, slots=True)
class LetterBias(JsonRecord):
    """The letter the model answered most often, and its share of the answers read."""

    letter: str | None
    share: float | None


@dataclass(frozen=True, slots=True)
class ShuffleProbe(JsonRecord):
    """Option-order shuffle: canonical minus shuffled accuracy with its paired 95% interval."""

    probe: str
    items: int
    canonical_accuracy: float
    shuffled_accuracy: float
    drop: float | None
    ci_low: float | None
    ci_high: float | None
    baseline: float
    baseline_kind: str
    reference_drop: float | None
    letter_bias: LetterBias
    verdict: Verdict
    rule: str
    records: list[ShuffleRecord]


@dataclass(frozen=True, slots=True)
class MinKRecord(JsonRecord):
    """One item's Min-K%++ score, its re-ordered controls' scores and the item - mean(control) difference."""

    id: str
    item: float
    controls: list[float]
    difference: float


@dataclass(frozen=True, slots=True)
class GapVsReference(JsonRecord):
    """The model's (item - control) gap minus the reference model's, paired over items, with its 95% interval."""

    diff: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MinKProbe(JsonRecord):
    """Min-K%++ of the items vs re-ordered controls (and vs a reference model's gap when one was scored)."""

    probe: str
    k: float
    items: int
    item_score: float
    baseline: float
    baseline_kind: str
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    above_all_controls: float
    margin: float
    rule: str
    reference_difference: float | None = omitted_if_none()
    vs_reference: GapVsReference | None = omitted_if_none()
    verdict: Verdict
    records: list[MinKRecord]


@dataclass(frozen=True, slots=True)
class Probes(JsonRecord):
    """The probes that were asked for, in their fixed order (one not asked for is left out of the JSON)."""

    ts_guessing: TsGuessing | None = omitted_if_none()
    shuffle: ShuffleProbe | SkippedProbe | None = omitted_if_none()
    min_k: MinKProbe | SkippedProbe | None = omitted_if_none()

    def ran(self) -> list[tuple[str, TsGuessing | ShuffleProbe | MinKProbe | SkippedProbe]]:
        """(name, probe) of every probe asked for, in report order."""
        pairs = (("ts_guessing", self.ts_guessing), ("shuffle", self.shuffle), ("min_k", self.min_k))
        return [(name, probe) for name, probe in pairs if probe is not None]


@dataclass(frozen=True, slots=True)
class ContaminationSettings(JsonRecord):
    """The probes' settings (every generation is greedy)."""

    seed: int
    probes: list[str]  # the probes that were asked for
    shuffles: int
    controls: int
    k: float
    min_rate: float
    margin: float
    temperature: float = 0.0


@dataclass(frozen=True, slots=True)
class ContaminationData(JsonRecord):
    """The data file the items came from, so `glassboard reproduce` can find it again and re-run the audit."""

    source: str | None
    sha256: str | None
    items: int  # samples in the file (the probes use the multiple-choice ones: `items` of the report)


@dataclass(frozen=True, slots=True)
class ContaminationReport(JsonRecord):
    """`audit contamination`: each probe's result, the probes that signal, and the caveats that go with them."""

    audit: Literal["contamination"] = field(default="contamination", init=False)
    model: dict[str, Any]  # the variant's snapshot (models layer)
    reference: dict[str, Any] | None
    task: str
    data: ContaminationData
    items: int
    probes: Probes
    signals: list[str]
    verdict: Literal["contamination signal", "no signal"]
    caveats: list[str]
    settings: ContaminationSettings
    elapsed_s: float
    cpu_s: float
