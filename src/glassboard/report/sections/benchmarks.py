"""Claims and benchmark scores: claimed vs protocol score vs strict vs lenient, with 95% CIs, one dot plot.

Inputs: `eval --json` summaries ("run"), run logs ("runlog") and `claims check --json` ("claims"). A run's step
is the `glassboard eval` command rebuilt from its log header (variant, task, data file and its sha256, questions,
epochs, protocol, sampling); a model sampled the numbers, so a re-run agrees when it falls inside the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, file_hashes, find_data, step_id

SCORES = (("protocol_score", "protocol"), ("strict", "strict"), ("lenient", "lenient"))


def _header(log: Path) -> dict[str, Any]:
    from glassboard.bench.log import read_log

    return read_log(log).header if log.is_file() else {}


def _eval_step(ident: str, header: dict[str, Any], log: Path, claim: float | None, context: Context,
               *near: Path | None) -> Step:
    variant = header.get("variant") or {}
    data = header.get("data") or {}
    params = header.get("sampling") or {}
    protocol = (header.get("protocol") or {}).get("name")
    found = find_data(data.get("source"), data.get("sha256"), log, *near)
    source = str(found) if found else data.get("source")
    command: tuple[str, ...] | None = None
    if variant.get("name") and header.get("task") and found is not None:
        command = ("glassboard", "eval", variant["name"], "--task", header["task"], "--data", context.path(found),
                   "--limit", str(data.get("samples")), "--epochs", str(header.get("epochs", 1)),
                   *(("--protocol", protocol) if protocol else ()),
                   *(("--max-tokens", str(params["max_tokens"])) if params.get("max_tokens") else ()),
                   *(("--claim", str(claim)) if claim is not None else ()),
                   "--log-dir", "{tmp}", "--no-progress", "--json", "{out}", *context.config_args())
    inputs = file_hashes(context, found)
    if data.get("sha256"):
        inputs[f"data {source}"] = data["sha256"]
    inputs.update({f"run log {context.path(log)}": h for h in file_hashes(context, log).values()})
    if header.get("protocol"):
        inputs[f"protocol {protocol}"] = header["protocol"].get("sha256", "")
    seeds = {"seed": params["seed"]} if isinstance(params.get("seed"), int) else {}
    return Step(ident, f"eval {variant.get('name', '?')} on {header.get('task', '?')}", command, inputs, seeds,
                deterministic=False,
                note="" if command else "the data file named in the run log (with its sha256) is not found")


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    rows, plot_rows, findings, prov = [], [], [], []
    runs = [i for i in inputs if i.kind in ("run", "runlog")]
    for k, item in enumerate(runs):
        doc = item.data if item.kind == "run" else item.data.as_dict()
        log = Path(doc["log"]) if item.kind == "run" else item.path
        assert log is not None
        header = _header(log)
        claim = (doc.get("claim") or {}).get("value")
        step = c.step(_eval_step(step_id("eval", k, len(runs)), header, log, claim, context, item.path))
        cells, points = [], []
        for key, label in SCORES:
            score = doc.get(key)
            if not isinstance(score, dict):
                cells.append("–")
                continue
            n = c.number(step, f"{key}.accuracy", f"{doc['model']} {doc['task']} {label}", score.get("accuracy"),
                         score.get("ci_low"), score.get("ci_high"))
            cells.append(f"{num(score.get('accuracy'), n)} {interval(score.get('ci_low'), score.get('ci_high'))}")
            if score.get("accuracy") is not None:
                points.append(svg.Point(label, score["accuracy"], score.get("ci_low"), score.get("ci_high")))
        if claim is not None:
            points.append(svg.Point("claimed", float(claim)))
        verdicts = doc.get("claim") or {}
        verdict = ", ".join(f"{k.removeprefix('verdict_')}: {v}" for k, v in verdicts.items()
                            if k.startswith("verdict"))
        protocol = (doc.get("protocol") or {})
        rows.append([esc(doc["model"]), esc(doc["task"]), esc(protocol.get("name", "glassboard")), num(claim),
                     *cells, esc(doc.get("n")), esc(verdict or "–")])
        plot_rows.append(svg.Row(f"{doc['model']} · {doc['task']}", tuple(points)))
        if claim is not None:
            inflated = verdicts.get("verdict_protocol", verdicts.get("verdict_strict")) == "below"
            findings.append(Finding(f"claim {claim:g} for {doc['model']} on {doc['task']}",
                                    "the measured score is below the claim" if inflated else
                                    f"measured score {verdicts.get('verdict_protocol', 'consistent')} with the claim",
                                    anchor="claims"))
        prov += [("variant id", f"{doc['model']} = {doc.get('variant_id')}"), ("run log sha256", item.extra.get(
            "run log sha256") or next(iter(file_hashes(context, log).values()), "missing")),
            ("data sha256", (header.get("data") or {}).get("sha256", "?")),
            ("protocol hash", protocol.get("sha256", "?")), ("glassboard version", header.get("glassboard", "?"))]
    claim_rows = []
    for k, item in enumerate(i for i in inputs if i.kind == "claims"):
        step = c.step(Step(f"claims-{k + 1}", "claims check", None, {context.path(item.source): item.sha256}, {},
                           deterministic=False, note="a claims check JSON does not record its claims file or data"))
        for j, claim_row in enumerate(item.data["claims"]):
            m = claim_row.get("measured") or {}
            gb = claim_row.get("glassboard") or {}
            n = c.number(step, f"claims[{j}].measured.accuracy", f"{claim_row.get('model')} measured",
                         m.get("accuracy"), m.get("ci_low"), m.get("ci_high"))
            claim_rows.append([esc(claim_row.get("model")), esc(claim_row.get("task")), num(claim_row.get("value")),
                               esc((claim_row.get("protocol") or {}).get("name")),
                               f"{num(m.get('accuracy'), n)} {interval(m.get('ci_low'), m.get('ci_high'))}",
                               *[f"{num((gb.get(s) or {}).get('accuracy'))}" for s in ("strict", "lenient")],
                               esc(", ".join(f"{a}: {b}" for a, b in (claim_row.get("verdicts") or {}).items()))])
            plot_rows.append(svg.Row(f"{claim_row.get('model')} · {claim_row.get('task')} (claim)", (
                svg.Point("protocol", m["accuracy"], m.get("ci_low"), m.get("ci_high")),
                svg.Point("claimed", float(claim_row["value"])))) if m.get("accuracy") is not None else
                svg.Row(str(claim_row.get("model")), ()))
            prov.append(("protocol hash", f"{(claim_row.get('protocol') or {}).get('name')} = "
                                          f"{(claim_row.get('protocol') or {}).get('sha256')}"))
            findings.append(Finding(f"claim {claim_row.get('value')} for {claim_row.get('model')}",
                                    "holds under: " + (", ".join(claim_row.get("holds_under") or []) or "none"),
                                    anchor="claims"))
    body = ""
    if rows:
        body += table(["model", "task", "protocol", "claimed", "protocol score [95% CI]", "strict [95% CI]",
                       "lenient [95% CI]", "n", "verdicts"], rows, numeric=(3, 4, 5, 6, 7))
    if claim_rows:
        body += table(["model", "task", "claimed", "protocol", "measured [95% CI]", "glassboard strict",
                       "glassboard lenient", "verdicts"], claim_rows, numeric=(2, 4, 5, 6))
    desc = "; ".join(f"{r.label}: " + ", ".join(f"{p.series} {p.value:.3f}" for p in r.points) for r in plot_rows)
    body += figure(svg.interval_plot("Claimed vs measured accuracy", desc, plot_rows, "accuracy (95% CI)"),
                   "Dots: accuracy; bars: 95% intervals; 'claimed' is the published number. " + desc)
    return Section("claims", "Claims and benchmark scores", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("run", "runlog", "claims"), render)
