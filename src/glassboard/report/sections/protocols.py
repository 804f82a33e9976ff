"""Protocol sensitivity: the same questions asked and scored under each protocol, with paired differences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import Collector, Context, Renderer, file_hashes, find_data, step_id


def _data_source(d: dict[str, Any], near: Path | None) -> tuple[Path | None, str | None, Any]:
    """The data file, its sha256 and max_tokens, from the first protocol's run log header (the log path in the
    JSON is as the audit was given it: tried as is and next to the JSON)."""
    from glassboard.bench.log import read_log

    for row in d.get("protocols") or []:
        log = find_data(str(row.get("log")), None, near)
        if log is not None:
            header = read_log(log).header
            data = header.get("data") or {}
            return (find_data(data.get("source"), data.get("sha256"), log, near), data.get("sha256"),
                    (header.get("sampling") or {}).get("max_tokens"))
    return None, None, None


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    body, findings, prov = "", [], []
    for k, item in enumerate(inputs):
        d = item.data
        names = [row["protocol"]["name"] for row in d["protocols"]]
        source, data_sha, max_tokens = _data_source(d, item.path)
        command = None
        if source is not None:
            command = ("glassboard", "audit", "protocols", d["model"], "--task", d["task"], "--protocols",
                       ",".join(names), "--data", context.path(source), "--limit", str(d.get("questions")),
                       *(("--max-tokens", str(max_tokens)) if max_tokens else ()),
                       "--log-dir", "{tmp}", "--json", "{out}", *context.config_args())
        step = c.step(Step(step_id("protocols", k, len(inputs)), f"protocol sensitivity of {d['model']}", command,
                           {**file_hashes(context, source), f"data {source}": str(data_sha),
                            **{f"protocol {r['protocol']['name']}": r["protocol"]["sha256"] for r in d["protocols"]}},
                           {}, deterministic=False))
        rows, plot_rows = [], []
        for row in d["protocols"]:
            name = row["protocol"]["name"]
            n = c.number(step, f"protocols[{names.index(name)}].accuracy", f"{d['model']} under {name}",
                         row.get("accuracy"), row.get("ci_low"), row.get("ci_high"))
            diff = row.get("diff_vs_first") or {}
            rows.append([esc(name), esc(row["protocol"].get("status")), f"{num(row.get('accuracy'), n)} "
                         f"{interval(row.get('ci_low'), row.get('ci_high'))}", num(row.get("unparsed_rate")),
                         f"{num(diff.get('diff'))} {interval(diff.get('ci_low'), diff.get('ci_high'))}",
                         f"<code>{esc(row['protocol']['sha256'][:16])}</code>"])
            if row.get("accuracy") is not None:
                plot_rows.append(svg.Row(name, (svg.Point("accuracy", row["accuracy"], row.get("ci_low"),
                                                          row.get("ci_high")),)))
        gap = d.get("largest_gap") or {}
        desc = "; ".join(f"{r.label}: {r.points[0].value:.3f}" for r in plot_rows)
        body += (f"<h3>{esc(d['model'])} · {esc(d['task'])} · {esc(d.get('questions'))} questions</h3>"
                 + table(["protocol", "status", "accuracy [95% CI]", "unparsed", "vs first [95% CI]", "hash"], rows,
                         numeric=(2, 3, 4))
                 + figure(svg.interval_plot(f"{d['model']} on {d['task']} by protocol", desc, plot_rows,
                                            "accuracy"), "Accuracy under each protocol, 95% intervals. " + desc))
        if gap:
            findings.append(Finding(f"protocol sensitivity of {d['model']} on {d['task']}",
                                    f"largest gap {gap.get('gap', 0):.3f} ({gap.get('highest')} vs "
                                    f"{gap.get('lowest')})", anchor="protocols"))
        prov += [("protocol hash", f"{r['protocol']['name']} = {r['protocol']['sha256']}") for r in d["protocols"]]
        prov.append(("data sha256", f"{source} = {data_sha}"))
    return Section("protocols", "Protocol sensitivity", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("audit:protocols",), render)
