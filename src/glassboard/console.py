"""Shared CLI plumbing: the --config option, the Rich consoles, and turning known errors into clean exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Registry file of model variants (default: ./glassboard.toml or built-in)."),
]


def stdout() -> Console:
    return Console()


def stderr() -> Console:
    return Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error (no traceback) and exit with `code`."""
    from rich.markup import escape

    stderr().print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Turn glassboard's own error types into a one-line message and exit code 2."""
    from glassboard.models.types import ConfigError, ModelError

    try:
        yield
    except (ConfigError, ModelError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail("interrupted", code=130)


def load_registry(config: Path | None):  # -> Registry (import kept lazy for CLI start-up)
    from glassboard.models.registry import Registry

    return Registry.load(config)
