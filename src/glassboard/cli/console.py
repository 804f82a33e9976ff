"""Shared CLI plumbing: the --config option, the Rich consoles, and turning known errors into clean exits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from glassboard.models.registry import Registry

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Registry file of model variants (default: ./glassboard.toml or built-in)."),
]


def stdout() -> Console:
    """Rich console on stdout; lines of text are never wrapped (a pipe or grep sees one line per message)."""
    return Console(soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error (no traceback) and exit with `code`."""
    from rich.markup import escape

    stderr().print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Turn glassboard's own errors (`GlassboardError`) and unreadable or unwritable files (`OSError`, naming the
    file) into a one-line message and exit code 2."""
    from glassboard.schema import GlassboardError

    try:
        yield
    except GlassboardError as err:
        fail(str(err))
    except OSError as err:
        fail(f"{getattr(err, 'filename', '') or ''} {err.strerror or err}".strip())
    except KeyboardInterrupt:
        fail("interrupted", code=130)


def load_registry(config: Path | None) -> Registry:  # (the import is kept lazy for CLI start-up)
    from glassboard.models.registry import Registry

    return Registry.load(config)


@contextlib.contextmanager
def eval_progress(label: str, enabled: bool = True) -> Iterator[Callable[[int, int, int], None] | None]:
    """A Rich progress bar on stderr for the benchmark runner's (finished, total, errors) reports (None if off)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[red]{task.fields[errors]} errors"), TimeElapsedColumn())
    with Progress(*columns, console=stderr(), auto_refresh=False, transient=False) as bar:
        task_id = bar.add_task(label, total=None, errors=0)

        def report(finished: int, total: int, errors: int) -> None:
            bar.update(task_id, completed=finished, total=total, errors=errors, refresh=True)

        yield report
