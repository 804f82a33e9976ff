"""Long context: claimed vs effective length, the verdict, a depth x length heatmap per task and the per-length
accuracy with 95% CIs, from `glassboard audit context --json` ("audit:context").

The step is the same audit as a command (grid, threshold, haystack and seed from the JSON and its log header),
with a fresh log directory so nothing is resumed. Answers are greedy and seeded, but a re-run on other hardware may
differ, so per-length accuracies agree within their reported 95% intervals; the effective lengths, which have no
interval, must come out the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, require, step_id


def _seed(log: str | None) -> int:
    """The seed recorded in the audit's log header (the JSON does not repeat it); 0, the default, otherwise."""
    if not log or not Path(log).is_file():
        return 0
    import json

    with Path(log).open(encoding="utf-8") as handle:
        try:
            header = json.loads(handle.readline() or "{}")
        except json.JSONDecodeError:
            return 0
    seed = header.get("seed") if isinstance(header, dict) else None
    return seed if isinstance(seed, int) else 0


def _command(d: dict[str, Any], seed: int, context: Context) -> tuple[str, ...]:
    lengths = ",".join(str(row["length"]) for row in d.get("lengths") or [])
    depths = ",".join(f"{x:g}" for x in d.get("depths") or [])
    claimed = d.get("claimed_context")
    return ("glassboard", "audit", "context", str(d["model"]), "--lengths", lengths, "--depths", depths,
            "--tasks", ",".join(d.get("tasks") or []), "--samples", str(d.get("samples")),
            "--threshold", str(d.get("threshold")), "--haystack", str(d.get("haystack", "prose")),
            "--sweep", str(d.get("sweep", "isolated")),  # a file from before the shared sweep ran isolated
            *(("--claimed", str(claimed)) if claimed else ()), "--seed", str(seed), "--concurrency", "1",
            "--log-dir", "{tmp}", "--json", "{out}", *context.config_args())


def _sweep(d: dict[str, Any]) -> str:
    if d.get("sweep", "isolated") == "shared":
        return "shared sweep (one haystack per sample with a needle per depth, asked in turn)"
    return "one needle per prompt"


def _short(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 and n >= 1024 else str(n)


def _heatmap(d: dict[str, Any], task: str) -> str:
    lengths = [int(row["length"]) for row in d.get("lengths") or []]
    cells = [c for c in d.get("cells") or [] if c.get("task") == task]
    depths = sorted({c.get("depth") for c in cells}, key=lambda x: -1.0 if x is None else x)
    labels = {x: "all" if x is None else f"{x:g}" for x in depths}
    grid = [svg.Cell(_short(int(c["length"])), labels[c.get("depth")], c.get("accuracy"),
                     "T" if c.get("truncated") else "") for c in cells]
    desc = f"{d['model']}, task {task}: " + "; ".join(
        f"length {c['length']} depth {labels[c.get('depth')]}: "
        + ("truncated by provider" if c.get("truncated") else "no score" if c.get("accuracy") is None
           else f"{c['accuracy']:.2f}") for c in cells)
    plot = svg.heatmap(f"{d['model']} · {task}: accuracy by needle depth and prompt length", desc,
                       [_short(n) for n in lengths], [labels[x] for x in depths], grid, "prompt length (tokens)",
                       "needle depth")
    return figure(plot, "Recall per cell, red 0 to green 1; grey T = truncated by the provider (not scored). " + desc)


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    body, findings, prov = "", [], []
    for k, item in enumerate(inputs):
        require(item, "an `audit context --json`", ("model", "lengths", "cells", "verdict"))
        d = item.data
        model = str(d["model"])
        variant = d.get("variant") or {}
        seed = _seed(d.get("log"))
        step = c.step(Step(step_id("context", k, len(inputs)), f"long-context audit of {model}",
                           _command(d, seed, context), {context.path(item.source): item.sha256,
                                                         f"variant {model}": str(variant.get("id", "?"))},
                           {"seed": seed}, deterministic=False, output="file"))
        eff = c.number(step, "effective_length", f"{model} effective length", d.get("effective_length"))
        cons = c.number(step, "effective_length_conservative", f"{model} conservative effective length",
                        d.get("effective_length_conservative"))
        rows = []
        for row in d.get("lengths") or []:
            n = c.number(step, f"lengths[length={row['length']}].accuracy", f"{model} accuracy at {row['length']}",
                         row.get("accuracy"), row.get("ci_low"), row.get("ci_high"))
            rows.append([esc(row["length"]), esc(row.get("n")),
                         f"{num(row.get('accuracy'), n)} {interval(row.get('ci_low'), row.get('ci_high'))}",
                         esc(row.get("truncated_samples", 0)), esc(row.get("errors", 0))])
        body += (f"<h3>{esc(model)}: claimed {esc(d.get('claimed_context') or 'not stated')}, effective "
                 f"{num(d.get('effective_length'), eff, 0) if d.get('effective_length') is not None else 'none'}"
                 f" (conservative {num(d.get('effective_length_conservative'), cons, 0) if cons else 'none'})</h3>"
                 f"<p>Verdict: <strong>{esc(d.get('verdict'))}</strong> · bar {esc(d.get('threshold'))}"
                 f" = {num(d.get('bar'))} · tasks {esc(', '.join(d.get('tasks') or []))} · "
                 f"{esc(d.get('samples'))} sample(s) per cell · haystack {esc(d.get('haystack'))} · "
                 f"{_sweep(d)} · tokens "
                 f"counted by {esc(d.get('measure'))}</p>"
                 + table(["length (tokens)", "n", "accuracy [95% CI]", "truncated samples", "errors"], rows,
                         numeric=(0, 1, 2, 3, 4))
                 + "".join(_heatmap(d, task) for task in d.get("tasks") or []))
        body += "".join(f"<p class=\"muted\">{esc(x)}</p>" for x in d.get("caveats") or [])
        findings.append(Finding(f"long-context claim of {model} ({d.get('claimed_context') or 'no claim'} tokens)",
                                f"{d.get('verdict')}; effective length {d.get('effective_length') or 'none'}",
                                anchor="context"))
        prov += [("variant id", f"{model} = {variant.get('id', '?')}"),
                 ("input", f"{item.source} sha256 {item.sha256}"), ("sample log", str(d.get("log")))]
    return Section("context", "Long context: claimed vs effective length", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("audit:context",), render)
