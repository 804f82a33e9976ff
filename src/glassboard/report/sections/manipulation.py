"""Manipulation curves: the target's rank against malicious votes, undefended vs defended, and de-anonymisation."""

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
        command = None if target is None else (
            "glassboard", "audit", "manipulation", *target, "--target", d["target"], "--budget", str(d["budget"]),
            "--seed", str(d["seed"]), "--seeds", str(d["seeds"]), "--votes-per-account", str(d["votes_per_account"]),
            "--json", "{out}")
        step = c.step(Step(step_id("manipulation", k, len(inputs)), f"votes needed to move {d['target']}", command,
                           {context.path(item.source): item.sha256, **file_hashes(context, source)},
                           {"seed": d["seed"], "seeds": d["seeds"]}, deterministic=True))
        deanon = d.get("deanonymisation") or {}
        auc = deanon.get("auc") or {}
        n_auc = c.number(step, "deanonymisation.auc.value", f"de-anonymisation AUC of {d['target']}",
                         auc.get("value"), auc.get("low"), auc.get("high"))
        curves, rows = [], []
        for j, curve in enumerate(d.get("curves") or []):
            label = "defended" if curve["defended"] else "undefended"
            curves.append(svg.Curve(label, tuple(curve["budgets"]), tuple(curve["rank_median"]),
                                    tuple(curve["rank_low"]), tuple(curve["rank_high"])))
            for goal, need in (curve.get("votes_needed") or {}).items():
                n = c.number(step, f"curves[{j}].votes_needed.{goal}.median", f"{label} votes for {goal}",
                             need.get("median"))
                rows.append([esc(label), esc(goal), num(need.get("median"), n),
                             esc(f"{need.get('reached')} of {need.get('seeds')} seeds")])
        desc = "; ".join(f"{cv.label}: rank {cv.ys[0]:g} at {cv.xs[0]:g} votes, {cv.ys[-1]:g} at {cv.xs[-1]:g}"
                         for cv in curves)
        body += (f"<h3>target {esc(d['target'])} · {esc(d.get('battles'))} battles · start rank "
                 f"{esc(d.get('start_rank'))}</h3><p>De-anonymisation AUC {num(auc.get('value'), n_auc)} "
                 f"[{num(auc.get('low'))}, {num(auc.get('high'))}]; defence: "
                 f"{esc((d.get('defence') or {}).get('flagged_voters'))} voters flagged.</p>"
                 + table(["arena", "goal", "median votes needed", "reached"], rows, numeric=(2,))
                 + figure(svg.line_plot(f"Rank of {d['target']} vs malicious votes", desc, curves,
                                        "malicious votes", "rank (median, 95% band)", log_x=True, invert_y=True),
                          "Median rank over seeds with the seeds' 95% band. " + desc))
        findings.append(Finding(f"vote manipulation of {d['target']}", f"de-anonymisation AUC "
                                f"{auc.get('value')}; curves for {len(curves)} arenas", anchor="manipulation"))
        prov.append(("battles", f"{source} (input {item.source} sha256 {item.sha256})"))
    return Section("manipulation", "Manipulation", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("audit:manipulation",), render)
