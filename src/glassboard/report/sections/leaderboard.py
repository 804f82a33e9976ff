"""Leaderboards: raw and style-controlled Bradley–Terry ratings with 95% CIs, rank shifts and style flags.

Inputs: battle files ("battles"), arena databases ("arena") and `audit style --json` ("audit:style"). Battles are
rated here with `audit.style.audit_style` (the rating library's sandwich intervals: deterministic), and the step is
the same computation as a command, `glassboard audit style SOURCE --json OUT`, so `reproduce` compares exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, ReportError, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, as_json, step_id
from glassboard.schema import GlassboardError


def _rate(item: Input) -> dict[str, Any]:
    from glassboard.audit.style import audit_style

    try:
        report: dict[str, Any] = as_json(audit_style(item.data, source=item.source))
        return report
    except GlassboardError as err:
        raise ReportError(f"{item.source}: {err}") from None


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    body, findings, prov = "", [], []
    for k, item in enumerate(inputs):
        report = item.data if item.kind == "audit:style" else _rate(item)
        source = str(report.get("source", item.source))
        if item.kind == "arena" or "://" in source:
            target: tuple[str, ...] | None = ("--db", source)
        elif Path(source).is_file() or (item.path is not None and item.kind == "battles"):
            target = (context.path(source if Path(source).is_file() else str(item.path)),)
        else:
            target = None
        inputs_hashes = {source if item.kind == "arena" else context.path(item.source): item.sha256}
        step = c.step(Step(step_id("ratings", k, len(inputs)), f"ratings of {source}",
                           None if target is None else ("glassboard", "audit", "style", *target, "--json", "{out}"),
                           inputs_hashes, {"seed": 0}, deterministic=report.get("ci", "sandwich") == "sandwich",
                           note="" if target else "the battle source named in the JSON is not readable here"))
        rows, plot_rows = [], []
        for v in sorted(report["variants"], key=lambda v: (v.get("rank") or 0, v["model"])):
            model = v["model"]
            raw = c.number(step, f"variants[model={model}].rating", f"{model} raw rating", v.get("rating"),
                           v.get("ci_low"), v.get("ci_high"))
            styled = c.number(step, f"variants[model={model}].style_rating", f"{model} style-controlled rating",
                              v.get("style_rating"), v.get("style_ci_low"), v.get("style_ci_high"))
            rows.append([esc(v.get("rank")), esc(model), esc(v.get("battles")),
                         f"{num(v.get('rating'), raw, 1)} {interval(v.get('ci_low'), v.get('ci_high'), 1)}",
                         esc(v.get("style_rank")),
                         f"{num(v.get('style_rating'), styled, 1)} "
                         f"{interval(v.get('style_ci_low'), v.get('style_ci_high'), 1)}",
                         esc(v.get("rank_shift")), num(v.get("tokens"), digits=1), num(v.get("emoji"), digits=2),
                         esc("; ".join(v.get("reasons") or []) or "–")])
            points = [svg.Point("raw", v["rating"], v.get("ci_low"), v.get("ci_high"))]
            if v.get("style_rating") is not None:
                points.append(svg.Point("style-controlled", v["style_rating"], v.get("style_ci_low"),
                                        v.get("style_ci_high")))
            plot_rows.append(svg.Row(model, tuple(points)))
        desc = "; ".join(f"{r.label}: " + ", ".join(f"{p.series} {p.value:.0f}" for p in r.points) for r in plot_rows)
        body += (f"<h3>{esc(source)} · {esc(report.get('battles'))} battles</h3>"
                 + table(["rank", "model", "battles", "raw rating [95% CI]", "style rank",
                          "style-controlled [95% CI]", "rank shift", "mean tokens", "mean emoji", "flag"],
                         rows, numeric=(0, 2, 3, 4, 5, 6, 7, 8))
                 + figure(svg.interval_plot(f"Ratings of {source}", desc, plot_rows, "Bradley–Terry rating"),
                          "Raw and style-controlled ratings with 95% intervals. " + desc))
        coefficients = [x for x in report.get("style_coefficients") or [] if isinstance(x, dict)]
        if coefficients:
            body += "<p>Style coefficients (per standard deviation of the feature, 95% CI): " + esc(", ".join(
                f"{x.get('feature')} {x.get('coef')} [{x.get('ci_low')}, {x.get('ci_high')}]"
                for x in coefficients)) + "</p>"
        for model in report.get("flagged") or []:
            findings.append(Finding(f"rank of {model} from style", "flagged: its style-controlled rating falls "
                                    "below its raw one", anchor="leaderboards"))
        if not report.get("flagged"):
            findings.append(Finding(f"style-driven ranks in {source}", "none flagged", anchor="leaderboards"))
        prov += [("battles", f"{source} sha256 {item.sha256}"), ("method", "Bradley–Terry, sandwich 95% CI, "
                                                                           "style control (rating library)")]
    return Section("leaderboards", "Leaderboards: raw and style-controlled", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("battles", "arena", "audit:style"), render)
