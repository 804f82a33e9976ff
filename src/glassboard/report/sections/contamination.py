"""Contamination probes: TS-Guessing, option-order shuffle and Min-K%++, each with its baseline and verdict."""

from __future__ import annotations

from collections.abc import Sequence

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, step_id

VALUE_FIELDS = {"ts_guessing": "rate", "shuffle": "drop", "min_k": "difference"}


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    rows, findings, prov, plot_rows = [], [], [], []
    for k, item in enumerate(inputs):
        d = item.data
        model = d["model"]
        step = c.step(Step(step_id("contamination", k, len(inputs)), f"contamination probes of {model['name']}",
                           None, {context.path(item.source): item.sha256, f"variant {model['name']}": model["id"]},
                           {"seed": int((d.get("settings") or {}).get("seed") or 0)}, deterministic=False,
                           note="a contamination JSON does not record its data file: re-run the audit by hand"))
        for name, probe in (d.get("probes") or {}).items():
            field = VALUE_FIELDS.get(name, "rate")
            n = c.number(step, f"probes.{name}.{field}", f"{model['name']} {name}", probe.get(field),
                         probe.get("ci_low"), probe.get("ci_high"))
            if isinstance(probe.get(field), int | float):
                points = [svg.Point("probe", probe[field], probe.get("ci_low"), probe.get("ci_high"))]
                if isinstance(probe.get("baseline"), int | float):
                    points.append(svg.Point("baseline", probe["baseline"]))
                plot_rows.append(svg.Row(f"{model['name']} {name}", tuple(points)))
            rows.append([esc(model["name"]), esc(probe.get("probe", name)), f"{num(probe.get(field), n)} "
                         f"{interval(probe.get('ci_low'), probe.get('ci_high'))}", num(probe.get("baseline")),
                         esc(probe.get("verdict")), esc(probe.get("reason") or probe.get("rule") or "")])
        findings.append(Finding(f"{model['name']} trained on {d.get('task')}?",
                                f"{d.get('verdict')}" + (f" ({', '.join(d['signals'])})" if d.get("signals") else ""),
                                anchor="contamination"))
        prov += [("variant id", f"{model['name']} = {model['id']}"), ("input", f"{item.source} sha256 {item.sha256}")]
    caveats = {c_ for item in inputs for c_ in item.data.get("caveats") or []}
    body = table(["model", "probe", "value [95% CI]", "baseline", "verdict", "rule"], rows, numeric=(2, 3))
    desc = "; ".join(f"{r.label}: " + ", ".join(f"{p.series} {p.value:.3f}" for p in r.points) for r in plot_rows)
    body += figure(svg.interval_plot("Probe values vs their baselines", desc, plot_rows, "probe value"),
                   "Each probe's value with its 95% interval and its baseline (rate, accuracy drop or score "
                   "difference; each on its own scale). " + desc)
    body += "".join(f"<p class=\"muted\">{esc(c_)}</p>" for c_ in sorted(caveats))
    return Section("contamination", "Contamination probes", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("audit:contamination",), render)
