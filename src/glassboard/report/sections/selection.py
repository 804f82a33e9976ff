"""Selection bias: per provider, the variants tested privately, the expected bias of the best, battle shares."""

from __future__ import annotations

from collections.abc import Sequence

from glassboard.report import svg
from glassboard.report.html import esc, figure, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import (
    Collector,
    Context,
    Renderer,
    battle_source_args,
    file_hashes,
    step_id,
)


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    body, findings, prov = "", [], []
    for k, item in enumerate(inputs):
        d = item.data
        source = str(d.get("source"))
        target = battle_source_args(context, source)
        step = c.step(Step(step_id("selection", k, len(inputs)), f"selection bias in {source}",
                           None if target is None else ("glassboard", "audit", "selection", *target, "--json",
                                                        "{out}"),
                           {context.path(item.source): item.sha256, **file_hashes(context, source)}, {"seed": 0},
                           deterministic=True))
        rows, plot_rows = [], []
        for p in d.get("providers") or []:
            name = p["provider"]
            bias = c.number(step, f"providers[provider={name}].bias", f"{name} best-of-N bias", p.get("bias"))
            corrected = c.number(step, f"providers[provider={name}].corrected", f"{name} corrected top rating",
                                 p.get("corrected"))
            rows.append([esc(name), esc(p.get("tested")), esc(p.get("unreleased")), esc(p.get("top") or "–"),
                         num(p.get("top_rating"), digits=1), num(p.get("bias"), bias, 1),
                         num(p.get("corrected"), corrected, 1), num(p.get("share")), num(p.get("intended_share")),
                         esc(p.get("flag") or "–")])
            if p.get("top_rating") is not None:
                plot_rows.append(svg.Row(name, (svg.Point("top variant", p["top_rating"]),
                                                svg.Point("corrected for best-of-N", p.get("corrected") or 0.0))))
            if (p.get("tested") or 0) > 1 and (p.get("bias") or 0) > 0:
                findings.append(Finding(f"selection bias of {name} ({p['tested']} variants tested)",
                                        f"best variant {p.get('top')} inflated by {p['bias']:.1f} points "
                                        f"(corrected {p.get('corrected')})", anchor="selection"))
        body += (f"<h3>{esc(source)} · {esc(d.get('battles'))} battles</h3>"
                 + table(["provider", "variants tested", "unreleased", "top variant", "top rating",
                          "expected bias", "corrected", "battle share", "intended share", "flag"], rows,
                         numeric=(1, 2, 4, 5, 6, 7, 8)))
        desc = "; ".join(f"{r.label}: top {r.points[0].value:.1f}, corrected {r.points[1].value:.1f}"
                         for r in plot_rows)
        body += figure(svg.interval_plot(f"Best variant per provider in {source}", desc, plot_rows, "rating"),
                       "Each provider's best tested variant and its rating corrected for best-of-N selection. "
                       + desc)
        fairness = d.get("fairness") or {}
        body += f"<p>Sampling fairness: p = {num(fairness.get('p_value'), digits=4)}, flagged: " \
                f"{esc(', '.join(fairness.get('flagged') or []) or 'none')}.</p>"
        prov.append(("battles", f"{source} (input {item.source} sha256 {item.sha256})"))
    return Section("selection", "Selection bias", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("audit:selection",), render)
