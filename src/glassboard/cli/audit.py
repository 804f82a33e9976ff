"""CLI commands of glassboard.audit: `glassboard audit identity|style|contamination|providers`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from glassboard.cli.audit_common import (
    JsonOption,
    SeedOption,
    fmt,
    progress_bar,
    show_report,
    verdict_style,
    write_json,
)
from glassboard.cli.audit_endpoints import contamination_command, providers_command
from glassboard.cli.console import ConfigOption, clean_errors, fail, load_registry, stderr, stdout
from glassboard.cli.context import context_command
from glassboard.cli.integrity import register as register_integrity
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit
from glassboard.cli.protocols import audit_protocols_command

if TYPE_CHECKING:
    from glassboard.audit.identity import IdentityReport
    from glassboard.audit.style import StyleReport


def register(app: typer.Typer) -> None:
    """Add the `audit` command group to the root app."""
    audit = typer.Typer(
        name="audit", no_args_is_help=True,
        help="Integrity audits: model identity, style-driven ranks, contamination, provider agreement.",
    )
    audit.command("identity")(identity_command)
    audit.command("style")(style_command)
    audit.command("contamination")(contamination_command)  # contamination and providers: cli/audit_endpoints.py
    audit.command("providers")(providers_command)
    audit.command("protocols")(audit_protocols_command)  # protocol sensitivity (issue 12), in cli/protocols.py
    audit.command("context")(context_command)  # claimed vs effective context length (issue 13), in cli/context.py
    register_integrity(audit)  # manipulation and selection (issue 16), in cli/integrity.py
    app.add_typer(audit)


# ------------------------------------------------------------------------------------------------ identity
def identity_command(
    model_a: Annotated[str, typer.Argument(help="Variant (name or alias) or endpoint A.")],
    model_b: Annotated[str, typer.Argument(help="Variant or endpoint B (may be A again: two independent samples).")],
    prompts: Annotated[int, typer.Option("--prompts", help="Number of prompts (the first N of the set).")] = 10,
    samples: Annotated[int, typer.Option("--samples", help="Completions per prompt and side.")] = 10,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Tokens per completion (capped by the variant's).")]
    = 24,
    seed: SeedOption = 0,
    temperature: Annotated[float | None, typer.Option(
        help="Sample both sides at this temperature (default: each variant's own, part of what it serves)."
    )] = None,
    prompt_file: Annotated[Path | None, typer.Option(
        "--prompt-file", help="Prompts from a .jsonl ({\"prompt\": ...}) or .txt file instead of the built-in set."
    )] = None,
    length: Annotated[int, typer.Option(help="Characters compared by the Hamming kernel.")] = 100,
    permutations: Annotated[int, typer.Option(help="Permutations for the p-value.")] = 1000,
    alpha: Annotated[float, typer.Option(help="Significance level of the verdict.")] = 0.05,
    logprobs: Annotated[bool, typer.Option(help="Re-score completions under both sides (local llama.cpp).")] = True,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
    config: ConfigOption = None,
) -> None:
    """Are A and B the same model? MMD two-sample test on sampled completions (Gao, Liang, Guestrin 2024)."""
    from glassboard.audit.identity import IdentityOptions
    from glassboard.audit.prompts import load_prompts

    with clean_errors():
        registry = load_registry(config)
        registry.get(model_a), registry.get(model_b)
        options = IdentityOptions(
            prompts=load_prompts(prompt_file, prompts), samples=samples, max_tokens=max_tokens, seed=seed,
            temperature=temperature, length=length, permutations=permutations, alpha=alpha, logprobs=logprobs,
        )
        options.validate()
        report = asyncio.run(_identity(registry, model_a, model_b, options))
    show_report(report, fmt, _print_identity, _identity_listing)
    write_json(json_out, report)


async def _identity(registry: Any, a: str, b: str, options: Any) -> IdentityReport:
    from glassboard.audit.identity import audit_identity
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        with progress_bar(2 * len(options.prompts) * options.samples, f"sampling {a} and {b}") as advance:
            return await audit_identity(hub, a, b, options, advance)


def _print_identity(report: IdentityReport) -> None:
    console = stdout()
    s = report.settings
    console.print(
        f"[bold]identity[/] {report.model_a['name']} vs {report.model_b['name']}: {verdict_style(report.verdict)}"
        f"  MMD² = {report.statistic:.4f}, p = {report.p_value:.4f} (alpha {report.alpha})"
    )
    console.print(
        f"  {report.samples} completions ({s.prompts} prompts x {s.samples_per_prompt} x 2 sides, "
        f"max {s.max_tokens_a}/{s.max_tokens_b} tokens, T = {s.temperature_a}/{s.temperature_b}); "
        f"kernel similarity within A {report.within_a:.3f}, within B {report.within_b:.3f}, "
        f"across {report.across:.3f}"
    )
    lp = report.logprobs
    if lp.available:
        console.print(f"  logprobs: mean |Δ log p| = {lp.mean_abs_delta:.4f} per token over {lp.tokens} tokens "
                      f"({'identical' if lp.identical else 'not identical'})")
    else:
        console.print(f"  [dim]logprob comparison not available: {lp.reason}[/]")
    console.print(f"  [dim]{report.elapsed_s} s, {report.cpu_s} CPU s, {report.tokens_generated} tokens[/]")


def _identity_listing(report: IdentityReport) -> Listing:
    columns = tuple(Column(key) for key in ("model_a", "model_b", "verdict", "statistic", "p_value", "alpha",
                                            "samples"))
    row = (report.model_a["name"], report.model_b["name"], report.verdict, report.statistic, report.p_value,
           report.alpha, report.samples)
    return Listing("identity", columns, [row])


# --------------------------------------------------------------------------------------------------- style
def style_command(
    file: Annotated[Path | None, typer.Argument(help="Battle file (.jsonl, .json or .parquet; LMArena schema).")]
    = None,
    db: Annotated[str | None, typer.Option("--db", help="Read the voted battles of an arena database instead.")]
    = None,
    ci: Annotated[str, typer.Option(help="Interval method of the rating library: sandwich or bootstrap.")]
    = "sandwich",
    rounds: Annotated[int | None, typer.Option(help="Bootstrap rounds (with --ci bootstrap).")] = None,
    seed: SeedOption = 0,
    include_flagged: Annotated[bool, typer.Option(help="Count battles flagged e.g. identity_revealed.")] = False,
    skip_invalid: Annotated[bool, typer.Option(help="Skip invalid rows with a warning instead of failing.")] = False,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Per variant: answer style, raw vs style-controlled rating and rank; flags ranks that come from style."""
    from glassboard.audit.style import audit_style, load_db_battles

    if (file is None) == (db is None):
        fail("give either a battle FILE or --db URL")
    if ci not in ("sandwich", "bootstrap"):
        fail(f"--ci must be sandwich or bootstrap, got {ci!r}")
    with clean_errors():
        on_invalid = "skip" if skip_invalid else "error"
        if db is not None:
            source: Any = load_db_battles(db)
            if not source:
                fail(f"the arena database {db} has no voted battles")
            name = db
        else:
            assert file is not None
            if not file.is_file():
                fail(f"battle file not found: {file}")
            source, name = file, str(file)
        report = audit_style(source, source=name, ci=ci, rounds=rounds, seed=seed,
                             include_flagged=include_flagged, on_invalid=on_invalid)
    show_report(report, fmt, _print_style, _style_listing)
    write_json(json_out, report)


def _style_listing(report: StyleReport) -> Listing:
    keys = ("model", "tokens", "emoji", "headers", "lists", "bold", "rating", "ci_low", "ci_high", "rank",
            "style_rating", "style_ci_low", "style_ci_high", "style_rank", "flagged")
    columns = tuple(Column(key, key_column=key == "model") for key in keys)
    rows = [tuple(getattr(v, k) for k in keys) for v in report.variants]
    return Listing(f"style audit · {report.source}", columns, rows)


def _interval(value: float | None, low: float | None, high: float | None) -> str:
    """'1032 [990, 1075]'; 'not determined' where the votes do not bound it (docs/rating.md §3)."""
    if value is None:
        return "not determined"
    bounds = "not determined" if low is None or high is None else f"{low:.0f}, {high:.0f}"
    return f"{value:.0f} [{bounds}]"


def _print_style(report: StyleReport) -> None:
    identified = report.style_identified
    names = ("tokens", "emoji", "headers", "lists", "bold", "rating (raw)", "rank",
             *(("style-controlled", "rank sc") if identified else ()))
    columns = (Column("model", key_column=True), *(Column(c, justify="right") for c in names), Column("flag"))
    rows = []
    for v in report.variants:
        style = ((_interval(v.style_rating, v.style_ci_low, v.style_ci_high), str(v.style_rank))
                 if identified else ())
        rows.append((v.model, fmt(v.tokens, 1), fmt(v.emoji, 2), fmt(v.headers, 2), fmt(v.lists, 2),
                     fmt(v.bold, 2), _interval(v.rating, v.ci_low, v.ci_high), str(v.rank), *style,
                     "rank from style" if v.flagged else ""))
    emit(Listing(f"style audit · {report.source} · {report.battles} battles", columns, rows), OutputFormat.table)
    console = stdout()
    for warning in report.warnings:
        stderr().print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False, soft_wrap=True)
    if not identified:
        console.print("  [yellow]style control is not determined by these votes: raw ratings only, nothing "
                      "flagged[/]")
        return
    for v in report.variants:
        for reason in v.reasons:
            console.print(f"  [red]{v.model}[/]: {reason}")
    if not report.flagged:
        console.print("  [green]no variant's rank comes from style[/]")
    coefs = ", ".join(f"{c.feature} {c.coef:+.2f}" for c in report.style_coefficients)
    console.print(f"  [dim]style coefficients (log-odds per SD): {coefs}[/]")
