"""What the audit commands share: their common options, the progress bar, how a report is shown (table, JSON or
CSV) and written (--json), number formatting, and loading a benchmark task's items."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from glassboard.cli.console import fail, stderr
from glassboard.cli.output import Listing, OutputFormat, emit
from glassboard.schema import JsonRecord

R = TypeVar("R", bound=JsonRecord)  # the typed report of one audit

JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the full report as JSON to this file.")]
SeedOption = Annotated[int, typer.Option(help="Seed for every sampled call and permutation (reproducible runs).")]
DataOption = Annotated[Path | None, typer.Option("--data", help="Local data file (the hub's field names).")]
LimitOption = Annotated[int | None, typer.Option(help="Use the first N items.")]


@contextlib.contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr, started at the first completion (so it never overlaps another live display,
    e.g. the bench runner's); yields the callback the audits call once per finished completion."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=stderr(), transient=True)
    task = bar.add_task(label, total=total)

    def advance(n: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.advance(task, n)

    try:
        yield advance
    finally:
        bar.stop()


def show_report(report: R, fmt: OutputFormat, print_table: Callable[[R], None], listing: Callable[[R], Listing]
                ) -> None:
    """The report for people (table), as JSON (the whole report) or as CSV (its main table)."""
    if fmt is OutputFormat.table:
        print_table(report)
    else:
        emit(listing(report), fmt, document=report.to_json() if fmt is OutputFormat.json else None)


def write_json(path: Path | None, report: JsonRecord) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=json_default) + "\n",
                        encoding="utf-8")
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror or err}")
    stderr().print(f"[dim]report written to {path}[/]")


def json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def verdict_style(verdict: str) -> str:
    bad = verdict in ("different", "signal", "contamination signal", "flagged")
    return f"[bold {'red' if bad else 'green'}]{verdict}[/]"


def load_task(task_name: str, data: Path | None, limit: int | None) -> tuple[Any, Any]:
    from glassboard.bench.tasks import get_task

    task = get_task(task_name)
    if limit is not None and limit < 1:
        fail("--limit must be at least 1")
    return task, task.load(data, limit)
