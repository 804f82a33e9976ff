"""The `glassboard` command line: one Typer app; each area registers its own commands."""

from __future__ import annotations

import typer

from glassboard.cli.arena import register as register_arena
from glassboard.cli.audit import register as register_audit
from glassboard.cli.bench import register as register_bench
from glassboard.cli.board import register as register_board
from glassboard.cli.judge import register as register_judge
from glassboard.cli.models import register as register_models
from glassboard.cli.protocols import register as register_protocols
from glassboard.cli.rating import register as register_rating
from glassboard.cli.report import register as register_report

app = typer.Typer(
    name="glassboard",
    help="Blind arena, ratings with style control, reproducible benchmarks and integrity audits for LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for register in (register_models, register_rating, register_arena, register_bench, register_audit,
                 register_protocols, register_judge, register_board, register_report):
    register(app)


if __name__ == "__main__":
    app()
