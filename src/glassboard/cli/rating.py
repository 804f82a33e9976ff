"""CLI commands of glassboard.rating (registered on the root Typer app): `glassboard rate`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit

if TYPE_CHECKING:
    from glassboard.rating.leaderboard import Leaderboard


class CiMethod(StrEnum):
    sandwich = "sandwich"
    bootstrap = "bootstrap"
    none = "none"


class BothBad(StrEnum):
    tie = "tie"
    drop = "drop"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("rate")(rate_command)


def rate_command(
    file: Annotated[Path, typer.Argument(help="Battle file in LMArena's schema: .jsonl, .json or .parquet.")],
    style_control: Annotated[
        bool, typer.Option("--style-control/--no-style-control", help="Add the style-controlled view.")
    ] = True,
    ci: Annotated[CiMethod, typer.Option(help="Interval method: robust sandwich, bootstrap, or none.")] = (
        CiMethod.sandwich
    ),
    rounds: Annotated[
        int | None, typer.Option(min=2, help="Bootstrap rounds (default 1000 raw, 100 style-controlled).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Bootstrap seed (results are reproducible for a seed).")] = 0,
    category: Annotated[str | None, typer.Option(help="Rate only battles of this category.")] = None,
    language: Annotated[str | None, typer.Option(help="Rate only battles in this language.")] = None,
    fmt: FormatOption = OutputFormat.table,
    out: Annotated[Path | None, typer.Option(help="Write the output to this file instead of stdout.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Save a PNG plot of both views with their intervals.")] = None,
    matrices: Annotated[
        Path | None, typer.Option(help="Write battle-count, win-fraction and predicted-win matrices (JSON).")
    ] = None,
    bothbad: Annotated[BothBad, typer.Option(help="'tie (bothbad)' votes: a tie, or dropped.")] = BothBad.tie,
    reweight: Annotated[bool, typer.Option(help="Weight battles 1/max(n_pair, 50) per model pair.")] = False,
    anchor: Annotated[str | None, typer.Option(help="Pin this model at --anchor-rating.")] = None,
    anchor_rating: Annotated[float, typer.Option(help="Rating of the anchor (or the mean).")] = 1000.0,
    elo: Annotated[bool, typer.Option(help="Add an online Elo column (reference view).")] = False,
    include_flagged: Annotated[
        bool, typer.Option(help="Count flagged battles (e.g. identity_revealed); left out by default.")
    ] = False,
    skip_invalid: Annotated[bool, typer.Option(help="Skip invalid rows with a warning instead of failing.")] = False,
    largest_component: Annotated[
        bool, typer.Option(help="If the comparison graph is split, rate its largest part (with a warning).")
    ] = False,
) -> None:
    """Rate the models of a battle file: Bradley-Terry with 95% intervals, raw and style-controlled."""
    import warnings

    from glassboard.cli.console import fail
    from glassboard.rating.errors import RatingError, RatingWarning
    from glassboard.rating.leaderboard import leaderboard

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RatingWarning)  # shown below, from the leaderboard's list
            board = leaderboard(
                file,
                style_control=style_control,
                ci=ci.value,
                rounds=rounds,
                seed=seed,
                category=category,
                language=language,
                bothbad=bothbad.value,
                reweight=reweight,
                anchor=anchor,
                anchor_rating=anchor_rating,
                elo=elo,
                include_flagged=include_flagged,
                on_invalid="skip" if skip_invalid else "error",
                connected="largest" if largest_component else "error",
            )
    except RatingError as err:
        fail(str(err))
    except MemoryError:
        fail(f"{file}: not enough memory to rate this file")
    _show_warnings(board.warnings)
    try:
        if out is None:
            emit(_listings(board, file, ci.value), fmt, document=board.rows)
        else:
            with out.open("w", encoding="utf-8") as handle:
                emit(_listings(board, file, ci.value), fmt, document=board.rows, file=handle)
        if matrices is not None:
            import json

            matrices.write_text(json.dumps(board.matrices()), encoding="utf-8")
        if plot is not None:
            _plot(board, plot)
    except OSError as err:
        fail(f"cannot write output: {err}")


def _show_warnings(messages: list[str]) -> None:
    from rich.markup import escape

    from glassboard.cli.console import stderr

    console = stderr()
    for msg in messages:
        console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False, soft_wrap=True)


def _fmt_ci(low: float | None, high: float | None, rating: float) -> str:
    if low is None or high is None:  # the votes do not bound it (a model that never lost or never won)
        return "not determined"
    return f"-{rating - low:.1f} / +{high - rating:.1f}"


def _listings(board: Leaderboard, file: Path, ci: str) -> list[Listing]:
    """The leaderboard table (and the style coefficients) for people; JSON and CSV get `board.rows` as they are."""
    style_on = board.style is not None
    columns = [Column("model", "Model", key_column=True), Column("rank_ub", "Rank (UB)", justify="right"),
               Column("rating", "Rating", justify="right"), Column("ci", "95% CI", justify="right")]
    if style_on:
        columns += [Column("style_rank_ub", "Rank (UB) style ctrl", justify="right"),
                    Column("style_rating", "Rating style ctrl", justify="right"),
                    Column("style_ci", "95% CI style ctrl", justify="right"),
                    Column("rank_shift", "Shift", justify="right")]
    if board.elo is not None:
        columns.append(Column("elo", "Elo", justify="right"))
    columns.append(Column("votes", "Votes", justify="right"))
    rows = []
    for row in board.rows:
        cells: list[str] = [
            row["model"], str(row["rank_ub"]), f"{row['rating']:.1f}",
            _fmt_ci(row["ci_low"], row["ci_high"], row["rating"]) if ci != "none" else "",
        ]
        if style_on:
            shift = row["rank_shift"]
            cells += [
                str(row["style_rank_ub"]), f"{row['style_rating']:.1f}",
                _fmt_ci(row["style_ci_low"], row["style_ci_high"], row["style_rating"]) if ci != "none" else "",
                f"▲{shift}" if shift > 0 else f"▼{-shift}" if shift < 0 else "=",
            ]
        if board.elo is not None:
            cells.append(f"{row['elo']:.1f}")
        cells.append(f"{row['votes']:,}")
        rows.append(tuple(cells))
    notes = [
        f"intervals: {board.raw.ci}"
        + (f" ({board.raw.rounds} rounds, seed {board.raw.seed})" if board.raw.ci == "bootstrap" else "")
    ]
    if board.excluded:
        notes.append("excluded: " + ", ".join(f"{v:,} {k}" for k, v in board.excluded.items()))
    if board.style is not None and board.style.dropped_features:
        notes.append("dropped style features: " + ", ".join(board.style.dropped_features))
    title = f"{file}: {board.n_battles:,} battles, {len(board.rows)} models"
    listings = [Listing(title, tuple(columns), rows, notes)]
    if board.style_coefficients:
        coefs = [(c["feature"], f"{c['coef']:+.4f}", f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]")
                 for c in board.style_coefficients]
        listings.append(Listing("Style coefficients (log-odds per SD of each normalised difference)",
                                (Column("feature", "Feature", key_column=True), Column("coef", "Coef", justify="right"),
                                 Column("ci", "95% CI", justify="right")), coefs))
    return listings


def _plot(board: Leaderboard, path: Path) -> None:
    """Horizontal interval plot of both views, best model on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = board.rows
    n = len(rows)
    y = np.arange(n)[::-1]
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.28 * n))
    views = [("rating", "ci_low", "ci_high", "raw", "tab:blue", 0.15)]
    if board.style is not None:
        views.append(("style_rating", "style_ci_low", "style_ci_high", "style-controlled", "tab:purple", -0.15))
    for key, lo, hi, label, colour, dy in views:
        vals = np.array([r[key] for r in rows])
        # an unbounded end (None: not determined by the votes) is drawn without a bar
        err = np.array([[r[key] - r[lo] if r[lo] is not None else 0.0 for r in rows],
                        [r[hi] - r[key] if r[hi] is not None else 0.0 for r in rows]])
        ax.errorbar(vals, y + dy, xerr=err, fmt="o", ms=4, capsize=2, color=colour, label=label)
    ax.set_yticks(y, [r["model"] for r in rows])
    ax.set_xlabel(f"rating (95% CI, {board.raw.ci})")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
