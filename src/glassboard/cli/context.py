"""`glassboard audit context MODEL`: claimed vs effective context length, as a table, JSON or CSV, and a heatmap."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from glassboard.cli.console import ConfigOption, clean_errors, eval_progress, load_registry, stderr, stdout
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit

if TYPE_CHECKING:
    from glassboard.audit.context_report import ContextReport


def context_command(
    model: Annotated[str, typer.Argument(help="Variant (name or alias) or endpoint from the registry.")],
    lengths: Annotated[str, typer.Option(help="Prompt lengths in the model's tokens (1k,2k,4k) or auto: "
                                              "powers of two from 512 up to the claimed length.")] = "auto",
    depths: Annotated[str, typer.Option(help="Needle depths, fractions of the haystack.")] = "0,0.25,0.5,0.75,1",
    tasks: Annotated[str, typer.Option(help="Tasks: niah_single, niah_multikey, niah_multivalue, niah_multiquery, "
                                            "vt, cwe, nolima.")] = "niah_single,nolima",
    samples: Annotated[int, typer.Option(help="Samples per (task, length, depth) cell.")] = 4,
    claimed: Annotated[str | None, typer.Option(help="Claimed context (128k); default: the variant's "
                                                     "claimed_context.")] = None,
    threshold: Annotated[str, typer.Option(help="Bar: an accuracy (RULER's 0.856) or relative:0.9 (share of the "
                                                "model's own shortest-length score).")] = "0.856",
    haystack: Annotated[str, typer.Option(help="prose or noise.")] = "prose",
    sweep: Annotated[str, typer.Option(help="shared: the depths of one sample share a haystack with one needle per "
                                            "depth, asked one at a time (the haystack is processed once: 3.5x "
                                            "faster on the bundled model); isolated: one needle per prompt.")]
    = "shared",
    concurrency: Annotated[int, typer.Option(help="Requests in flight.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of every generated prompt.")] = 0,
    log_dir: Annotated[Path, typer.Option("--log-dir", help="Where the resumable sample log goes.")]
    = Path("glassboard-runs"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a depth x length heatmap per task (PNG).")]
    = None,
    fmt: FormatOption = OutputFormat.table,
    config: ConfigOption = None,
) -> None:
    """Claimed vs effective context length: needle, multi-hop and aggregation tasks at exact token lengths."""
    from glassboard.audit.context import (
        SWEEPS,
        ContextOptions,
        audit_context,
        parse_depths,
        parse_lengths,
        parse_threshold,
    )
    from glassboard.models.derive import parse_context_length
    from glassboard.models.hub import ModelHub
    from glassboard.models.types import ConfigError

    with clean_errors():
        try:
            claimed_tokens = parse_context_length(claimed) if claimed is not None else None
        except ConfigError as err:
            raise ConfigError(f"--claimed: {err}") from None
        options = ContextOptions(
            lengths=parse_lengths(lengths), depths=parse_depths(depths), tasks=tuple(tasks.split(",")),
            samples=samples, claimed=claimed_tokens, threshold=parse_threshold(threshold), haystack=haystack,
            sweep=sweep, concurrency=concurrency, seed=seed, log_dir=log_dir)
        registry = load_registry(config)

        async def run() -> ContextReport:
            async with ModelHub(registry) as hub:
                with eval_progress(f"context {model}") as progress:
                    return await audit_context(hub, model, options, progress)

        report = asyncio.run(run())
        if json_out is not None:
            _write_json(json_out, report)
        if plot is not None:
            from glassboard.audit.context_plot import heatmap

            heatmap(report, plot)
            stderr().print(f"[dim]heatmap written to {plot}[/]")
    listing = _listing(report)
    if fmt is OutputFormat.table:
        emit(listing, fmt)
        console = stdout()
        console.print(f"claimed {report.claimed_context or '–'}, effective {report.effective_length or '–'} "
                      f"(conservative {report.effective_length_conservative or '–'}) at threshold "
                      f"{report.threshold}: [bold]{report.verdict}[/]", highlight=False, soft_wrap=True)
        console.print(f"[dim]sweep {report.sweep}: {SWEEPS.get(report.sweep, '')}[/]", highlight=False,
                      soft_wrap=True)
        for caveat in report.caveats:
            console.print(f"[yellow]note:[/] {caveat}", highlight=False, soft_wrap=True)
    else:
        cells = Listing("cells", _CELL_COLUMNS, [tuple(getattr(c, col.key) for col in _CELL_COLUMNS)
                                                 for c in report.cells])
        emit(cells, fmt, document=report.to_json() if fmt is OutputFormat.json else None)


def _write_json(path: Path, report: ContextReport) -> None:
    import json

    from glassboard.audit.haystack import ContextError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as err:
        raise ContextError(f"cannot write {path}: {err.strerror or err}") from None
    stderr().print(f"[dim]report written to {path}[/]")


_CELL_COLUMNS = (Column("task", key_column=True), Column("length", justify="right"), Column("depth"),
                 Column("n", justify="right"), Column("accuracy", justify="right"),
                 Column("ci_low", justify="right"), Column("ci_high", justify="right"), Column("truncated"))


def _listing(report: ContextReport) -> Listing:
    """Accuracy per length (all tasks and depths), with its 95% interval and truncation counts."""
    columns = (Column("length", justify="right", key_column=True), Column("n", justify="right"),
               Column("accuracy", justify="right"), Column("ci_low", "95% low", justify="right"),
               Column("ci_high", "95% high", justify="right"), Column("truncated_samples", "truncated",
                                                                        justify="right"),
               Column("errors", justify="right"))
    rows = [tuple(getattr(row, c.key) for c in columns) for row in report.lengths]
    return Listing(f"context: {report.model} ({', '.join(report.tasks)}; {report.samples} samples per "
                   f"cell; lengths measured with {report.measure})", columns, rows)
