"""The report page: HTML escaping, tables, numbers with provenance, the summary on top, the embedded manifest.

Self-contained by construction: the CSS is inline, plots are inline SVG, there is no script except the manifest
(a JSON data block, never executed), and no URL is ever put in a src or href (links are in-page anchors only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from glassboard.report.model import Finding, Number, Section

MANIFEST_ID = "glassboard-manifest"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;max-width:1000px;margin:2em auto;
padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
.caught{color:#0a6b2d;font-weight:600}.missed{color:#b00020;font-weight:600}.info{color:#444}
figure{margin:.8em 0}figcaption{font-size:12px;color:#444;max-width:640px}
.prov{font-size:11px;color:#555;word-break:break-all}.prov code{font-size:11px}
code{font-size:12px}details{margin:.5em 0}.muted{color:#666}
@media print{body{max-width:none;margin:0}h2{break-after:avoid}figure,table{break-inside:avoid}details{display:block}}
"""


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def num(value: Any, number: Number | None = None, digits: int = 3) -> str:
    """A number in a table cell; with its `Number`, it carries the manifest id and the step that produced it."""
    text = esc(fmt(value, digits))
    if number is None:
        return text
    return f'<span data-number="{esc(number.id)}" title="{esc(number.id)}">{text}</span>'


def interval(low: Any, high: Any, digits: int = 3) -> str:
    if low is None or high is None:
        return "–"
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """`rows` hold HTML already escaped (cells built with esc/num); columns in `numeric` align right."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def verdict_cell(finding: Finding) -> str:
    if finding.caught is None:
        return f'<span class="info">{esc(finding.verdict)}</span>'
    label = "caught" if finding.caught else "not caught"
    return f'<span class="{"caught" if finding.caught else "missed"}">{label}</span> · {esc(finding.verdict)}'


def page(title: str, sections: Sequence[Section], manifest: dict[str, Any], header: Sequence[tuple[str, str]],
         episode: Sequence[Finding] = ()) -> str:
    """The whole document. `episode`: failure modes to list first (the demo); else every section's findings."""
    findings = list(episode) or [f for s in sections for f in s.findings]
    summary = table(["what", "verdict"], [
        [f'<a href="#{esc(f.anchor)}">{esc(f.what)}</a>' if f.anchor else esc(f.what), verdict_cell(f)]
        for f in findings]) if findings else "<p>No findings: no input gave a verdict.</p>"
    toc = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1><p class=\"prov\">"
        + " · ".join(f"{esc(k)} <code>{esc(v)}</code>" for k, v in header) + "</p></header>",
        f'<section id="summary"><h2>{"The episode, failure by failure" if episode else "Findings"}</h2>'
        f"{summary}</section>",
        f'<nav><h2>Sections</h2><ol>{toc}<li><a href="#manifest">Manifest</a></li></ol></nav>',
    ]
    for s in sections:
        prov = "".join(f"<li>{esc(k)}: <code>{esc(v)}</code></li>" for k, v in s.provenance)
        parts.append(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}'
                     f'<div class="prov"><strong>Provenance</strong><ul>{prov}</ul></div></section>')
    steps = manifest.get("steps", [])
    step_rows = [[esc(s["id"]), f"<code>{esc(' '.join(s['command']) if s['command'] else '(not recorded)')}</code>",
                  esc("exact" if s["deterministic"] else "within 95% CI"),
                  "<br>".join(f"<code>{esc(k)}</code> {esc(v[:16])}" for k, v in s["inputs"].items()),
                  esc(", ".join(f"{k}={v}" for k, v in s["seeds"].items()) or "–")] for s in steps]
    parts.append('<section id="manifest"><h2>Manifest</h2><p>Every step as a command, with its inputs\' sha256 '
                 f'and seeds; <code>glassboard reproduce</code> re-runs them and compares the '
                 f'{len(manifest.get("numbers", []))} numbers. The same JSON is embedded below and written '
                 "beside this file.</p>"
                 + table(["step", "command", "comparison", "inputs (sha256)", "seeds"], step_rows) + "</section>")
    block = json.dumps(manifest, indent=1, sort_keys=True).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="{MANIFEST_ID}">{block}</script></body></html>')
    return "\n".join(parts)
