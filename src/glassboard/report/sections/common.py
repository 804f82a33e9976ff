"""What every section renderer shares: the build context, the Renderer record, and a step/number collector."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glassboard.report.inputs import sha256_file
from glassboard.report.model import Input, Number, ReportError, Section, Step


@dataclass(frozen=True, slots=True)
class Context:
    """Where the report is written (`base`: commands name paths relative to it), the registry file to pass to
    commands that use models, and glassboard's version."""

    base: Path
    config: Path | None
    version: str

    def path(self, value: str | Path) -> str:
        """A path as a command should name it: relative to the report's directory when it is inside it."""
        path = Path(value).resolve()
        try:
            return str(path.relative_to(self.base.resolve()))
        except ValueError:
            return str(path)

    def config_args(self) -> tuple[str, ...]:
        return () if self.config is None else ("--config", self.path(self.config))


@dataclass(frozen=True, slots=True)
class Renderer:
    kinds: tuple[str, ...]
    render: Callable[[Sequence[Input], Context], Section | None]


@dataclass
class Collector:
    """Steps and numbers of one section; `number(...)` registers a number and returns it for the table cell."""

    steps: list[Step] = field(default_factory=list)
    numbers: list[Number] = field(default_factory=list)

    def step(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    def number(self, step: Step, path: str, label: str, value: Any, low: Any = None, high: Any = None) -> Number | None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        n = Number(f"{step.id}:{path}", step.id, path, label, float(value),
                   None if low is None else float(low), None if high is None else float(high))
        self.numbers.append(n)
        return n


def file_hashes(context: Context, *paths: str | Path | None) -> dict[str, str]:
    """{path as commands name it: sha256} for the paths that exist."""
    out = {}
    for p in paths:
        if p is not None and Path(p).is_file():
            out[context.path(p)] = sha256_file(Path(p))
    return out


def battle_source_args(context: Context, source: str) -> tuple[str, ...] | None:
    """How an audit command names the battles it read: `--db URL` for an arena database, the file's path for a
    battle file that still exists, None when neither can be found again (the step then has no command)."""
    if "://" in source:
        return ("--db", source)
    return (context.path(source),) if Path(source).is_file() else None


def step_id(prefix: str, index: int, count: int) -> str:
    return prefix if count == 1 else f"{prefix}-{index + 1}"


def find_data(source: str | None, sha256: str | None, *near: Path | None) -> Path | None:
    """The data file a run read: `source` as recorded (relative to where that command ran, which is not recorded),
    tried as given, then next to each of `near` and their parents; with `sha256`, only a file with that hash."""
    if not source:
        return None
    candidates = [Path(source)]
    for place in near:
        if place is not None:
            folder = place if place.is_dir() else place.parent
            candidates += [p / source for p in (folder, *list(folder.resolve().parents)[:3])]
    for candidate in candidates:
        if candidate.is_file() and (not sha256 or sha256_file(candidate) == sha256):
            return candidate.resolve()
    return None


def as_json(result: Any) -> Any:
    """An audit function's result as its JSON document: typed report objects give it by `.to_json()`, older
    functions return the dict itself. Every in-process audit call of the report reads its result through here."""
    to_json = getattr(result, "to_json", None)
    return to_json() if callable(to_json) else result


def require(item: Input, what: str, fields: Sequence[str]) -> None:
    """ReportError naming the input when any dotted field (`judge.name`, `models[0].model`) is missing."""
    from glassboard.report.manifest import resolve

    missing = []
    for f in fields:
        try:
            resolve(item.data, f)
        except KeyError:
            missing.append(f)
    if missing:
        raise ReportError(f"{item.source}: not {what} output: missing {', '.join(missing)}")
