"""CLI for the report package: `glassboard report`, `glassboard reproduce`, `glassboard demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glassboard.cli.console import clean_errors, fail, stderr, stdout


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.command("reproduce")(reproduce_command)
    app.command("demo")(demo_command)


def report_command(
    inputs: Annotated[list[str], typer.Argument(help="Run logs, `eval`/`claims check`/`audit ... --json` outputs, "
                                                     "battle files or an arena database URL.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write (its manifest goes beside it).")]
    = Path("report.html"),
    title: Annotated[str, typer.Option(help="The report's title.")] = "glassboard report",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Registry file the report's commands "
                                                                       "should use (written into the manifest).")]
    = None,
) -> None:
    """One self-contained HTML report (no external request; readable with JavaScript off) with a manifest."""
    with clean_errors():
        from glassboard.report.build import build_report

        built = build_report(inputs, out, title=title, config=config)
    stdout().print(f"report   {built.html}  ({built.size / 1024:.0f} kB; sections: {', '.join(built.sections)})",
                   highlight=False, soft_wrap=True, markup=False)
    stdout().print(f"manifest {built.manifest}  ({built.numbers} numbers)", highlight=False, soft_wrap=True,
                   markup=False)


def reproduce_command(
    report: Annotated[Path, typer.Argument(help="A glassboard report (.html) or its manifest (.json).")],
    limit_steps: Annotated[str | None, typer.Option(help="Comma-separated step ids to re-run (default: all).")]
    = None,
) -> None:
    """Re-run every step of a report and print, per number, old and new value and whether they agree; exit 0
    only when all agree (exact for deterministic steps, within the 95% CI otherwise)."""
    with clean_errors():
        from glassboard.report.manifest import read_manifest
        from glassboard.report.reproduce import reproduce

        manifest = read_manifest(report)
        known = [s["id"] for s in manifest["steps"]]
        wanted = [s.strip() for s in limit_steps.split(",") if s.strip()] if limit_steps else []
        unknown = [s for s in wanted if s not in known]
        if unknown:
            fail(f"--limit-steps: unknown step(s) {', '.join(unknown)}; the manifest has {', '.join(known)}")
        result = reproduce(manifest, report.resolve().parent, wanted,
                           progress=lambda s: stderr().print(f"re-running {s} ...", highlight=False))
    out = stdout()
    for step in result.steps:
        status = "error: " + step.error if step.error else "ran"
        out.print(f"step {step.id}: {status}", highlight=False, soft_wrap=True, markup=False)
        for change in step.changed_inputs:
            out.print(f"  input changed: {change}", highlight=False, soft_wrap=True, markup=False)
        for c in step.checks:
            new = "–" if c.new is None else f"{c.new:.6g}"
            mark = "agree" if c.agree else "DISAGREE"
            out.print(f"  {mark:8} {c.label}: old {c.old:.6g} new {new} ({c.rule}{'; ' + c.why if c.why else ''})"
                      f"  [{c.id}]", highlight=False, soft_wrap=True, markup=False)
    bad = [c for c in result.checks if not c.agree]
    out.print(f"{len(result.checks) - len(bad)} of {len(result.checks)} numbers agree", highlight=False, markup=False)
    if not result.ok:
        raise typer.Exit(1)


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the demo's files and report.html.")]
    = Path("glassboard-demo"),
    quick: Annotated[bool, typer.Option("--quick", help="Smallest budgets (a few minutes on 2 cores).")] = False,
) -> None:
    """The Llama 4 episode in miniature, offline with the bundled model; writes DIR/report.html."""
    with clean_errors():
        from glassboard.report.demo import run_demo

        built = run_demo(out, quick=quick, progress=lambda m: stderr().print(m, highlight=False))
    stdout().print(f"report   {built.html}  ({built.size / 1024:.0f} kB)", highlight=False, soft_wrap=True,
                   markup=False)
