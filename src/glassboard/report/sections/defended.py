"""The defended leaderboard of an arena database ("arena"): raw vs defended ratings with 95% CIs, rank changes,
and the votes the anomaly check excluded (audit/anomaly.py via arena/defence.py), exactly as the arena serves it.

The step is `glassboard leaderboard --db URL --json OUT`, the same computation (arena.board.compute: sandwich
intervals, no resampling), so `reproduce` compares every number exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, as_json, step_id


def _board(item: Input) -> dict[str, Any]:
    from glassboard.arena.board import compute

    board: dict[str, Any] = as_json(compute(list(item.data)).as_json())
    return board


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    body, findings, prov = "", [], []
    for k, item in enumerate(inputs):
        board = _board(item)
        url = item.source
        step = c.step(Step(step_id("defended", k, len(inputs)), f"defended leaderboard of {url}",
                           ("glassboard", "leaderboard", "--db", url, "--json", "{out}"), {url: item.sha256},
                           {"seed": 0}, deterministic=True))
        defence = board.get("defence") or {}
        summary = defence.get("summary") or {}
        defended = {r["model"]: r for r in defence.get("rows") or []}
        rows, plot_rows = [], []
        for r in board.get("rows") or []:
            model = r["model"]
            raw = c.number(step, f"rows[model={model}].rating", f"{model} raw rating (arena)", r.get("rating"),
                           r.get("ci_low"), r.get("ci_high"))
            d = defended.get(model)
            kept = None if d is None else c.number(step, f"defence.rows[model={model}].rating",
                                                   f"{model} defended rating", d.get("rating"), d.get("ci_low"),
                                                   d.get("ci_high"))
            rows.append([esc(r.get("rank")), esc(model), esc(r.get("votes")),
                         f"{num(r.get('rating'), raw, 1)} {interval(r.get('ci_low'), r.get('ci_high'), 1)}",
                         esc("–" if d is None else d.get("rank")),
                         "same as raw (no vote excluded)" if d is None else
                         f"{num(d.get('rating'), kept, 1)} {interval(d.get('ci_low'), d.get('ci_high'), 1)}",
                         esc("–" if d is None else d.get("votes"))])
            points = [svg.Point("raw", r["rating"], r.get("ci_low"), r.get("ci_high"))]
            if d is not None:
                points.append(svg.Point("defended", d["rating"], d.get("ci_low"), d.get("ci_high")))
            plot_rows.append(svg.Row(model, tuple(points)))
        excluded = c.number(step, "defence.summary.excluded_votes", f"votes excluded in {url}",
                            summary.get("excluded_votes"))
        flagged = c.number(step, "defence.summary.flagged_voters", f"voters flagged in {url}",
                           summary.get("flagged_voters"))
        reasons = ", ".join(f"{name}: {v['voters']} voter(s), {v['votes']} votes"
                            for name, v in (summary.get("by_reason") or {}).items()) or "none"
        desc = "; ".join(f"{r.label}: " + ", ".join(f"{p.series} {p.value:.0f}" for p in r.points) for r in plot_rows)
        body += (f"<h3>{esc(url)} · {esc(board.get('votes'))} votes</h3>"
                 + (f"<p>{esc(board['message'])}</p>" if board.get("message") else "")
                 + (f"<p>{esc(defence['message'])}</p>" if defence.get("message") else "")
                 + f"<p>Anomaly check: {num(summary.get('flagged_voters'), flagged, 0)} of "
                 f"{esc(summary.get('voters', '–'))} voters flagged (threshold {esc(summary.get('threshold', '–'))} "
                 f"nats, α = {esc(summary.get('alpha', '–'))}), {num(summary.get('excluded_votes'), excluded, 0)} "
                 f"votes excluded ({esc(reasons)}); {esc(defence.get('identity_flagged', 0))} votes flagged when "
                 "cast (not rated on either board). Excluded votes stay stored and exported.</p>"
                 + table(["rank", "model", "votes", "raw rating [95% CI]", "defended rank",
                          "defended rating [95% CI]", "votes kept"], rows, numeric=(0, 2, 3, 4, 5, 6))
                 + figure(svg.interval_plot(f"Raw vs defended ratings of {url}", desc, plot_rows,
                                            "Bradley–Terry rating"),
                          "Raw and defended (anomalous voters' votes left out) ratings with 95% intervals. " + desc))
        moved = [m for m, d in defended.items()
                 if any(r["model"] == m and r.get("rank") != d.get("rank") for r in board.get("rows") or [])]
        findings.append(Finding(f"manipulated votes in {url}",
                                f"{summary.get('flagged_voters', 0)} voter(s) flagged, "
                                f"{summary.get('excluded_votes', 0)} votes excluded"
                                + (f"; rank changes for {', '.join(moved)}" if moved else ""), anchor="defended"))
        prov += [("battles", f"{url} sha256 {item.sha256} (voted battles as canonical JSON)"),
                 ("method", "Bradley–Terry, sandwich 95% CI; voters scored by likelihood ratio (audit/anomaly.py)")]
    return Section("defended", "Defended leaderboard: raw vs without anomalous voters", body, findings, c.steps,
                   c.numbers, prov)


RENDERER = Renderer(("arena",), render)
