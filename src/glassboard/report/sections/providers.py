"""Provider table: one model behind several endpoints, accuracy with CIs, paired differences and identity."""

from __future__ import annotations

from collections.abc import Sequence

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, file_hashes, find_data, step_id


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    body, findings, prov = "", [], []
    for k, item in enumerate(inputs):
        d = item.data
        data = d.get("data") or {}
        found = find_data(data.get("source"), data.get("sha256"), item.path)
        source = str(found) if found else data.get("source")
        models = [row["model"] for row in d["endpoints"]]
        ident = next((row["identity"]["settings"] for row in d["endpoints"] if row.get("identity")), None)
        command = None
        if found is not None:
            command = ("glassboard", "audit", "providers", *models, "--task", d["task"], "--data",
                       context.path(found), "--limit", str(data.get("items")), "--log-dir", "{tmp}",
                       *(("--identity-prompts", str(ident["prompts"]), "--identity-samples",
                          str(ident["samples_per_prompt"]), "--identity-max-tokens", str(ident["max_tokens_a"]),
                          "--seed", str(ident["seed"])) if ident else ("--no-identity",)),
                       "--json", "{out}", *context.config_args())
        step = c.step(Step(step_id("providers", k, len(inputs)), f"providers of {d.get('reference')}", command,
                           {**file_hashes(context, source), f"data {source}": str(data.get("sha256")),
                            **{f"variant {v['name']}": v["id"] for v in d.get("variants") or []}}, {},
                           deterministic=False))
        rows, plot_rows = [], []
        for row in d["endpoints"]:
            n = c.number(step, f"endpoints[model={row['model']}].accuracy", f"{row['model']} accuracy",
                         row.get("accuracy"), row.get("ci_low"), row.get("ci_high"))
            diff = row.get("vs_reference") or {}
            rows.append([esc(row["model"]), f"{num(row.get('accuracy'), n)} "
                         f"{interval(row.get('ci_low'), row.get('ci_high'))}",
                         f"{num(diff.get('diff'))} {interval(diff.get('ci_low'), diff.get('ci_high'))}",
                         num(row.get("mean_completion_tokens"), digits=1),
                         esc((row.get("identity") or {}).get("verdict", "–")),
                         esc("reference" if row.get("reference") else "; ".join(row.get("reasons") or []) or "ok")])
            if row.get("accuracy") is not None:
                plot_rows.append(svg.Row(row["model"], (svg.Point("accuracy", row["accuracy"], row.get("ci_low"),
                                                                  row.get("ci_high")),)))
        desc = "; ".join(f"{r.label}: {r.points[0].value:.3f}" for r in plot_rows)
        body += (f"<h3>{esc(d['task'])} · reference {esc(d.get('reference'))}</h3>"
                 + table(["endpoint", "accuracy [95% CI]", "difference vs reference [95% CI]", "mean tokens",
                          "identity vs reference", "flag"], rows, numeric=(1, 2, 3))
                 + figure(svg.interval_plot(f"Accuracy per endpoint ({d['task']})", desc, plot_rows, "accuracy"),
                          "Accuracy per endpoint with 95% intervals. " + desc))
        for model in d.get("flagged") or []:
            findings.append(Finding(f"provider {model} serves another model", "flagged as an outlier",
                                    anchor="providers"))
        if not d.get("flagged"):
            findings.append(Finding(f"providers of {d.get('reference')}", "no endpoint flagged", anchor="providers"))
        prov += [("data sha256", f"{source} = {data.get('sha256')}")]
        prov += [("variant id", f"{v['name']} = {v['id']}") for v in d.get("variants") or []]
    return Section("providers", "Providers", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("audit:providers",), render)
