"""CLI commands of glassboard.arena (registered on the root Typer app)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
