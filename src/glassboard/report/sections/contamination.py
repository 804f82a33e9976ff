"""Contamination probes: TS-Guessing, option-order shuffle and Min-K%++, each with its baseline and verdict, and the
step that re-runs the audit (rebuilt from the data file, probes and settings the JSON records; a JSON from before
the data file was recorded gets a step without a command)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, file_hashes, find_data, step_id

VALUE_FIELDS = {"ts_guessing": "rate", "shuffle": "drop", "min_k": "difference"}
REFERENCE_FIELDS = {"ts_guessing": "reference_rate", "shuffle": "reference_drop", "min_k": "reference_difference"}
NOT_RECORDED = "this contamination JSON does not record its data file: re-run the audit by hand"


def command(d: dict[str, Any], data: Path | None, context: Context) -> tuple[str, ...] | None:
    """The `glassboard audit contamination` argv that made `d`, or None when its data file is not known."""
    settings = d.get("settings") or {}
    if data is None or not settings.get("probes"):
        return None
    reference = (d.get("reference") or {}).get("name")
    return ("glassboard", "audit", "contamination", d["model"]["name"], "--task", d["task"], "--data",
            context.path(data), "--limit", str(d["data"]["items"]), "--probes", ",".join(settings["probes"]),
            "--shuffles", str(settings["shuffles"]), "--controls", str(settings["controls"]), "--seed",
            str(settings["seed"]), *(("--reference", reference) if reference else ()), "--json", "{out}",
            *context.config_args())


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    rows, findings, prov, plot_rows = [], [], [], []
    for k, item in enumerate(inputs):
        d = item.data
        model = d["model"]
        data = d.get("data") or {}
        found = find_data(data.get("source"), data.get("sha256"), item.path)
        argv = command(d, found, context)
        reference = d.get("reference") or {}
        hashes = {context.path(item.source): item.sha256, **file_hashes(context, found),
                  f"variant {model['name']}": model["id"]}
        if data.get("sha256"):
            hashes[f"data {data.get('source')}"] = data["sha256"]
        if reference:
            hashes[f"variant {reference['name']}"] = reference["id"]
        step = c.step(Step(step_id("contamination", k, len(inputs)), f"contamination probes of {model['name']}",
                           argv, hashes, {"seed": int((d.get("settings") or {}).get("seed") or 0)},
                           deterministic=False, note="" if argv else NOT_RECORDED))
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
            rows += _reference_rows(c, step, name, probe, model["name"], reference.get("name"))
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


def _reference_rows(c: Collector, step: Step, name: str, probe: dict[str, Any], model: str, reference: str | None
                    ) -> list[list[str]]:
    """With `--reference`: the clean reference's value (run in the same audit) and, for Min-K%++, the model's gap
    minus the reference's with its paired 95% CI (the number the verdict rests on)."""
    value = probe.get(REFERENCE_FIELDS.get(name, ""))
    if reference is None or not isinstance(value, int | float):
        return []
    rows = [[f"{esc(reference)} (clean reference)", esc(probe.get("probe", name)), num(value), "", "", ""]]
    vs = probe.get("vs_reference") or {}
    if isinstance(vs.get("diff"), int | float):
        n = c.number(step, f"probes.{name}.vs_reference.diff", f"{model} {name} minus {reference}", vs["diff"],
                     vs.get("ci_low"), vs.get("ci_high"))
        rows.append([esc(f"{model} − {reference}"), esc(probe.get("probe", name)),
                     f"{num(vs['diff'], n)} {interval(vs.get('ci_low'), vs.get('ci_high'))}", num(0.0),
                     esc(probe.get("verdict")), esc(probe.get("rule") or "")])
    return rows


RENDERER = Renderer(("audit:contamination",), render)
