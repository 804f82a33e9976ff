"""Identity tests: is the model behind B the model behind A? (MMD² with a permutation p-value; audit/identity.py)."""

from __future__ import annotations

from collections.abc import Sequence

from glassboard.report import svg
from glassboard.report.html import esc, figure, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, step_id


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    rows, findings, prov, plot_rows = [], [], [], []
    for k, item in enumerate(inputs):
        d = item.data
        a, b, s = d["model_a"], d["model_b"], d.get("settings") or {}
        command = ("glassboard", "audit", "identity", a["name"], b["name"], "--prompts", str(s.get("prompts")),
                   "--samples", str(s.get("samples_per_prompt")), "--max-tokens", str(s.get("max_tokens_a")),
                   "--length", str(s.get("length")), "--seed", str(s.get("seed")),
                   "--permutations", str(d.get("permutations")), "--alpha", str(d.get("alpha")),
                   *(("--temperature", str(s.get("temperature_a"))) if s.get("temperature_source") == "command line"
                     else ()), "--json", "{out}", *context.config_args())
        step = c.step(Step(step_id("identity", k, len(inputs)), f"identity {a['name']} vs {b['name']}", command,
                           {context.path(item.source): item.sha256, f"variant {a['name']}": a["id"],
                            f"variant {b['name']}": b["id"]}, {"seed": int(s.get("seed") or 0)},
                           deterministic=False, note="sampled; the verdict and p-value are compared"))
        alpha = float(d.get("alpha", 0.05))
        p = c.number(step, "p_value", f"identity p-value {a['name']} vs {b['name']}", d.get("p_value"),
                     *((0.0, alpha) if d.get("verdict") == "different" else (alpha, 1.0)))
        rows.append([esc(a["name"]), esc(b["name"]), num(d.get("statistic"), digits=4), num(d.get("p_value"), p, 4),
                     esc(d.get("samples")), esc(d.get("verdict")),
                     esc(f"{s.get('prompts')} prompts × {s.get('samples_per_prompt')} samples, "
                         f"T = {s.get('temperature_a')}/{s.get('temperature_b')}")])
        plot_rows.append(svg.Row(f"{a['name']} vs {b['name']}", tuple(
            svg.Point(label, float(d[key])) for key, label in (("within_a", "within A"), ("within_b", "within B"),
                                                                ("across", "across A and B"))
            if isinstance(d.get(key), int | float))))
        findings.append(Finding(f"{b['name']} is the released {a['name']}?", f"identity test: {d.get('verdict')} "
                                f"(p = {d.get('p_value'):.3g})", anchor="identity"))
        prov += [("variant id", f"{a['name']} = {a['id']}, weights {a.get('weights')}"),
                 ("variant id", f"{b['name']} = {b['id']}, weights {b.get('weights')}"),
                 ("input", f"{item.source} sha256 {item.sha256}")]
    body = table(["A", "B", "MMD²", "p-value", "samples", "verdict", "settings"], rows, numeric=(2, 3, 4))
    desc = "; ".join(f"{r.label}: " + ", ".join(f"{p.series} {p.value:.3f}" for p in r.points) for r in plot_rows)
    body += figure(svg.interval_plot("Answer similarity within and across the two models", desc, plot_rows,
                                     "mean kernel similarity of answers"),
                   "Same model: 'across' sits with 'within'; a different model: 'across' falls below. " + desc)
    body += ("<p class=\"muted\">The p-value's interval in the manifest is the region that keeps the verdict: a "
             "re-run agrees when it reaches the same verdict.</p>")
    return Section("identity", "Identity tests", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("audit:identity",), render)
