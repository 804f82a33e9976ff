"""CLI commands of the arena-integrity audits (issue 16): `glassboard audit manipulation|selection`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from glassboard.cli.console import clean_errors, fail, stderr
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit
from glassboard.schema import JsonRecord, SelectionReport

if TYPE_CHECKING:
    from glassboard.audit.integrity_reports import ManipulationReport

FileArg = Annotated[Path | None, typer.Argument(help="Battle file (.jsonl, .json or .parquet; LMArena schema).")]
DbOption = Annotated[str | None, typer.Option("--db", help="Read the voted battles of an arena database instead.")]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the full report as JSON to this file.")]
SeedOption = Annotated[int, typer.Option(help="Seed of every random draw (reproducible runs).")]


def register(audit: typer.Typer) -> None:
    audit.command("manipulation")(manipulation_command)
    audit.command("selection")(selection_command)


def _show(report: JsonRecord, fmt: OutputFormat, listing: Listing, print_table: Callable[[], None]) -> None:
    if fmt is OutputFormat.table:
        print_table()
    else:
        emit(listing, fmt, document=report.to_json() if fmt is OutputFormat.json else None)


def _write_json(path: Path | None, report: JsonRecord) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror or err}")
    stderr().print(f"[dim]report written to {path}[/]")


def _source(file: Path | None, db: str | None) -> tuple[Any, str]:
    from glassboard.audit.style import load_db_battles

    if (file is None) == (db is None):
        fail("give either a battle FILE or --db URL")
    if db is not None:
        rows = load_db_battles(db)
        if not rows:
            fail(f"the arena database {db} has no voted battles")
        return rows, db
    assert file is not None
    if not file.is_file():
        fail(f"battle file not found: {file}")
    return file, str(file)


def manipulation_command(
    file: FileArg = None,
    db: DbOption = None,
    target: Annotated[str, typer.Option("--target", help="The model the simulated attacker pushes up.")] = "",
    budget: Annotated[int, typer.Option(help="Most malicious votes simulated.")] = 5000,
    defended: Annotated[bool | None, typer.Option("--defended/--undefended",
                                                  help="Only one arena (default: both).")] = None,
    seeds: Annotated[int, typer.Option(help="Simulated attacks per arena.")] = 5,
    votes_per_account: Annotated[int, typer.Option(help="Attacker votes per voter account.")] = 50,
    seed: SeedOption = 0,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the votes-needed curve (PNG).")] = None,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """De-anonymisation accuracy/AUC and the malicious votes needed to move --target, undefended and defended."""
    from glassboard.audit.manipulation import audit_manipulation, plot_curves
    from glassboard.rating.table import as_table

    if not target:
        fail("--target MODEL is required")
    with clean_errors():
        source, name = _source(file, db)
        table = as_table(source, on_invalid="skip")
        report = audit_manipulation(source, table, target, budget=budget, defended=defended, seed=seed,
                                    seeds=seeds, votes_per_account=votes_per_account, name=name)
        if plot is not None:
            plot_curves(report, str(plot))
    listing = _manipulation_listing(report)
    _show(report, fmt, listing, lambda: _print_manipulation(listing))
    _write_json(json_out, report)


def _manipulation_listing(report: ManipulationReport) -> Listing:
    columns = (Column("arena", key_column=True), Column("goal"), Column("goal_rank", justify="right"),
               Column("median", justify="right"), Column("low", justify="right"), Column("high", justify="right"),
               Column("reached", justify="right"))
    rows = []
    for curve in report.curves:
        for goal, v in curve.votes_needed.items():
            rows.append(("defended" if curve.defended else "undefended", goal, v.goal_rank, v.median, v.low, v.high,
                         f"{v.reached}/{v.seeds}"))
    d, defence = report.deanonymisation, report.defence
    notes = [f"de-anonymisation of {report.target}: AUC {d.auc.value:.3f} [{d.auc.low:.3f}, {d.auc.high:.3f}], "
             f"accuracy {d.accuracy.value:.3f} [{d.accuracy.low:.3f}, {d.accuracy.high:.3f}], side accuracy "
             f"{d.side_accuracy.value:.3f} ({d.answers} answers, {d.folds}-fold CV)",
             f"start rank {report.start_rank} of {report.models}; votes needed: first budget reaching the goal "
             f"(median and range over {report.seeds} seeds; empty = not within {report.budget})",
             f"defence on the data: {defence.flagged_voters} of {defence.voters} voters flagged, "
             f"{defence.excluded_votes} votes excluded"]
    return Listing(f"manipulation audit · {report.source}", columns, rows, notes)


def _print_manipulation(listing: Listing) -> None:
    emit(listing, OutputFormat.table)  # the notes go with the table (stderr when piped)


def selection_command(
    file: FileArg = None,
    db: DbOption = None,
    providers: Annotated[Path | None, typer.Option(
        "--providers", help="JSON {model: provider} or {model: {provider, public}} (a FILE has no providers).")]
    = None,
    seed: SeedOption = 0,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Per provider: variants tested, best-of-N selection bias and corrected top rating, battle share vs intended."""
    from glassboard.audit.selection import audit_selection
    from glassboard.rating.table import as_table

    with clean_errors():
        source, name = _source(file, db)
        variants = _variants(db, providers)
        table = as_table(source, on_invalid="skip", with_style=False)
        report = audit_selection(table, variants, seed=seed, name=name)
    listing = _selection_listing(report)
    _show(report, fmt, listing, lambda: _print_listing(listing))
    _write_json(json_out, report)


def _print_listing(listing: Listing) -> None:
    emit(listing, OutputFormat.table)


def _variants(db: str | None, path: Path | None) -> dict[str, Any]:
    from glassboard.audit.selection import Variant

    out: dict[str, Any] = {}
    if db is not None:
        from glassboard.store.battles import Store

        store = Store(db, migrate=False)
        try:
            out = {r["name"]: Variant(r["provider"], bool(r["public"])) for r in store.variants()}
        finally:
            store.close()
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            fail(f"{path}: cannot read the providers file: {err}")
        if not isinstance(data, dict):
            fail(f"{path}: expected a JSON object {{model: provider}}")
        for model, value in data.items():
            if isinstance(value, str):
                out[model] = Variant(value)
            elif isinstance(value, dict) and isinstance(value.get("provider"), str):
                out[model] = Variant(value["provider"], bool(value.get("public", True)))
            else:
                fail(f"{path}: model {model!r}: expected a provider name or {{\"provider\": ..., \"public\": ...}}")
    return out


def _selection_listing(report: SelectionReport) -> Listing:
    keys = ("provider", "tested", "public", "unreleased", "top", "top_rating", "bias", "bias_if_equal", "corrected",
            "slots", "share", "intended_share", "flag")
    columns = tuple(Column(k, key_column=k in ("provider", "top")) for k in keys)
    rows = [tuple(getattr(p, k) for k in keys) for p in report.providers]
    f = report.fairness
    notes = [f"sampling fairness: chi2 {f.chi2} (df {f.df}), p {f.p_value}; flagged: {', '.join(f.flagged) or 'none'}"]
    return Listing(f"selection audit · {report.source} · {report.battles} battles", columns, rows, notes)
