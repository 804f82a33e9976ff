"""`glassboard leaderboard`: the arena's leaderboard exactly as `glassboard serve` computes it (raw,
style-controlled, and the defended board without the votes of anomalous voters), as a table or JSON.

Why a command: the report's defended-leaderboard section needs a step that `glassboard reproduce` can re-run, and
the arena's board (arena/board.py + arena/defence.py) had no command line of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from glassboard.cli.console import clean_errors, stdout


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard_command)


def leaderboard_command(
    db: Annotated[str, typer.Option(help="Arena database URL (sqlite:///arena.db, postgresql://...).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the board as JSON here.")] = None,
) -> None:
    """The arena's leaderboard of the voted battles: raw and style-controlled ratings with 95% CIs, and the
    defended board (votes of voters flagged by the anomaly check left out) with its exclusion counts."""
    with clean_errors():
        from glassboard.arena.board import compute
        from glassboard.audit.style import load_db_battles

        board = compute(load_db_battles(db)).as_json()
        document = {"source": db, **board}
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    out = stdout()
    if board["message"]:
        out.print(board["message"], highlight=False, markup=False, soft_wrap=True)
    defended = {r["model"]: r for r in (board["defence"] or {}).get("rows") or []}
    for r in board["rows"]:
        d = defended.get(r["model"])
        out.print(f"{r['rank']:>3}  {r['model']:<32} {r['rating']:8.1f} [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
                  + (f"  defended {d['rating']:.1f} (rank {d['rank']})" if d else ""), highlight=False, markup=False)
    summary = (board["defence"] or {}).get("summary")
    if summary:
        out.print(f"defence: {summary['flagged_voters']} of {summary['voters']} voters flagged, "
                  f"{summary['excluded_votes']} votes excluded", highlight=False, markup=False)
