"""The report's typed records: an input it recognised, a number with its provenance, a manifest step, a section.

Renderers (report/sections/) turn inputs into `Section`s; each number shown in a section is a `Number` of a `Step`,
the command that produced it, so the manifest (manifest.py) can re-run the step and compare the number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from glassboard.schema import GlassboardError


class ReportError(GlassboardError):
    """An input the report cannot use, or a manifest it cannot read; the message names the file or URL."""


@dataclass(frozen=True, slots=True)
class Input:
    """One report input: where it came from, what it is (`kind`), its sha256, and its parsed content."""

    source: str  # the path or URL as given
    kind: str  # e.g. "run", "claims", "battles", "audit:identity" (see inputs.recognise)
    sha256: str  # of the file's bytes; for a database, of its voted battles as canonical JSON
    data: Any  # the parsed JSON document, or for battles/databases the loaded rows
    path: Path | None = None  # the file, when the input is a file
    extra: dict[str, str] = field(default_factory=dict)  # more provenance: run log sha256, data sha256, ...


@dataclass(frozen=True, slots=True)
class Number:
    """One reported number: where to find it again in the step's output (`path`), its value and 95% interval."""

    id: str  # unique in the manifest: "<step id>:<path>"
    step: str
    path: str  # a path into the step's JSON output (manifest.resolve): "variants[model=x].rating"
    label: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.step, "path": self.path, "label": self.label, "value": self.value,
                "ci_low": self.ci_low, "ci_high": self.ci_high}


StepOutput = Literal["file", "stdout"]


@dataclass(frozen=True, slots=True)
class Step:
    """A command that produced numbers: argv starting with "glassboard", with "{out}" where its JSON goes.

    `deterministic`: the numbers are a function of the hashed inputs (compared exactly); otherwise a model sampled
    them and a re-run agrees when its value falls inside the reported 95% interval. `command` is None when the
    input does not record how it was made (the step is then listed, and `reproduce` says it cannot re-run it)."""

    id: str
    title: str
    command: tuple[str, ...] | None
    inputs: dict[str, str]  # path or URL -> sha256 (or another hash named in the key, e.g. "protocol ...")
    seeds: dict[str, int]
    deterministic: bool
    output: StepOutput = "file"
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "command": None if self.command is None else list(self.command),
                "inputs": self.inputs, "seeds": self.seeds, "deterministic": self.deterministic,
                "output": self.output, "note": self.note}


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report's top summary: what was checked and the verdict, e.g. ("identity", "different")."""

    what: str
    verdict: str
    caught: bool | None = None  # for failure modes: did glassboard catch it? None: not a failure-mode check
    anchor: str = ""  # the section id it links to


@dataclass
class Section:
    """A rendered section: an id (HTML anchor), a title, its HTML body, findings, steps and numbers."""

    id: str
    title: str
    body: str
    findings: list[Finding] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    numbers: list[Number] = field(default_factory=list)
    provenance: list[tuple[str, str]] = field(default_factory=list)  # (what, value) pairs shown under the section
