"""The typed report of the long-context audit (audit/context.py): cells, per-length rows, and the whole report.

Why a module of its own: the audit, its heatmap (context_plot.py) and the CLI all read these records, and the audit
module is long already. `to_json()` is the document `audit context --json` writes (field order is the file's key
order); `from_json()` reads one back, validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from glassboard.schema import JsonRecord


@dataclass(frozen=True, slots=True)
class ContextCell(JsonRecord):
    """One (task, length, depth) cell: recall accuracy over its scored samples with a 95% interval in [0, 1]."""

    task: str
    length: int
    depth: float | None  # None: a task without a needle depth
    n: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    truncated: bool  # the provider cut (or refused) at least one sample's prompt
    truncated_samples: int
    errors: int


@dataclass(frozen=True, slots=True)
class LengthRow(JsonRecord):
    """Accuracy at one prompt length over every task and depth, with truncation and error counts."""

    length: int
    n: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    truncated_samples: int
    errors: int


@dataclass(frozen=True, slots=True)
class ContextSummary(JsonRecord):
    """What the samples say: effective lengths (point and conservative), the verdict, per-length rows and cells."""

    claimed_context: int | None
    effective_length: int | None
    effective_length_conservative: int | None
    threshold: str
    bar: float | None
    verdict: str
    truncated_at: int | None
    lengths: list[LengthRow]
    cells: list[ContextCell]
    errors: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextReport(JsonRecord):
    """`audit context`: the summary's fields, then how the grid was built and where its sample log is."""

    audit: Literal["context"] = field(default="context", init=False)
    model: str
    claimed_context: int | None
    effective_length: int | None
    effective_length_conservative: int | None
    threshold: str
    bar: float | None
    verdict: str
    truncated_at: int | None
    lengths: list[LengthRow]
    cells: list[ContextCell]
    errors: int
    tasks: list[str]
    depths: list[float]
    samples: int
    haystack: str
    sweep: str = "isolated"  # "shared": the depths of one sample share a haystack with a needle per depth
    measure: str
    template_tokens: int
    caveats: list[str]
    log: str
    variant: dict[str, Any]  # the variant's snapshot (models layer)
    elapsed_s: float

