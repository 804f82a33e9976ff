"""The judged leaderboard from `glassboard judge run --json` ("judge"): per model the win rate against the
baseline, the length-controlled and the style-controlled scores with 95% CIs, and the judge's own audit
(unparsable verdicts, position bias, verbosity, self-preference, agreement with humans).

The step is `glassboard judge run` rebuilt from the JSON's `run` block (prompts file found by its sha256, limit,
order swapping, judge prompt file, human votes, seed) with a fresh log directory. Models answered and judged, so a
re-run agrees when each number falls inside its reported 95% interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from glassboard.report import svg
from glassboard.report.html import esc, figure, interval, num, table
from glassboard.report.model import Finding, Input, Section, Step
from glassboard.report.sections.common import (
    Collector,
    Context,
    Renderer,
    file_hashes,
    find_data,
    require,
    step_id,
)

ELO = 400 / math.log(10)


def _file(spec: dict[str, Any] | None, item: Input, context: Context, flag: str, missing: list[str],
          hashes: dict[str, str]) -> tuple[str, ...]:
    """`(flag, path)` for a file the run read, found by its recorded sha256 (its hash goes into `hashes`)."""
    if not spec:
        return ()
    found = find_data(spec.get("source"), spec.get("sha256"), item.path)
    if found is None:
        missing.append(f"{flag} file {spec.get('source')} (sha256 {str(spec.get('sha256'))[:12]}) is not found")
        return ()
    hashes.update(file_hashes(context, found))
    return (flag, context.path(found))


def _step(ident: str, d: dict[str, Any], item: Input, context: Context) -> Step:
    run = d.get("run") or {}
    missing: list[str] = [] if run else ["the JSON has no `run` block (written by an older glassboard)"]
    hashes = {context.path(item.source): item.sha256, f"judge {d['judge'].get('name')}": str(d["judge"].get("id")),
              f"baseline {d['baseline'].get('name')}": str(d["baseline"].get("variant")),
              f"judge prompt {(d.get('judge_prompt') or {}).get('source')}":
                  str((d.get("judge_prompt") or {}).get("hash"))}
    prompts = _file(run.get("prompts"), item, context, "--prompts", missing, hashes)
    if run and not run.get("prompts"):
        missing.append("the prompts file is not recorded")
    extra = (*_file(run.get("judge_prompt"), item, context, "--judge-prompt", missing, hashes),
             *_file(run.get("human"), item, context, "--human", missing, hashes),
             *(("--db", str(run["db"])) if run.get("db") else ()),
             *(("--limit", str(run["limit"])) if run.get("limit") else ()),
             *(() if run.get("swap", True) else ("--no-swap",)))
    command = None if missing else (
        "glassboard", "judge", "run", "--judge", str(d["judge"].get("name")), "--baseline",
        str(d["baseline"].get("name")), "--models", ",".join(str(m["model"]) for m in d["models"]), *prompts,
        *extra, "--seed", str(run.get("seed", 0)), "--log-dir", "{tmp}", "--no-progress", "--json", "{out}",
        *context.config_args())
    return Step(ident, f"judged leaderboard by {d['judge'].get('name')}", command, hashes,
                {"seed": int(run.get("seed", 0))}, deterministic=False, note="; ".join(missing))


def _style_win(rating: dict[str, Any] | None, key: str) -> float | None:
    value = (rating or {}).get(key)
    return None if value is None else 1 / (1 + math.exp(-(float(value) - 1000.0) / ELO))


def _audit_rows(c: Collector, step: Step, a: dict[str, Any]) -> list[list[str]]:
    rows = []

    def add(label: str, path: str, est: dict[str, Any] | None, meaning: str, digits: int = 3) -> None:
        est = est or {}
        n = c.number(step, path, f"judge {label}", est.get("value"), est.get("ci_low"), est.get("ci_high"))
        rows.append([esc(label), num(est.get("value"), n, digits),
                     interval(est.get("ci_low"), est.get("ci_high"), digits), esc(meaning)])

    rows.append([esc("unparsable rate"), num(a.get("unparsable_rate")), "–",
                 esc(f"{a.get('unparsable')} of {a.get('judgments')} verdicts, excluded")])
    pos = a.get("position") or {}
    add("position: A preferred", "audit.position.a_share.value", pos.get("a_share"), "decisive verdicts; 0.5 = fair")
    add("position: flip rate", "audit.position.flip_rate.value", pos.get("flip_rate"),
        f"outcome changes when the order swaps ({pos.get('pairs_both_orders')} pairs)")
    add("position: log-odds", "audit.position.logodds.value", pos.get("logodds"), "bonus for slot A; 0 = fair")
    add("verbosity: log-odds per doubling", "audit.verbosity.logodds_per_doubling.value",
        (a.get("verbosity") or {}).get("logodds_per_doubling"), "bonus per doubling of length; 0 = fair")
    for r in a.get("self_preference") or []:
        add(f"self-preference: {r.get('model')}", f"audit.self_preference[model={r.get('model')}].excess_logodds"
            ".value", r.get("excess_logodds"), f"{r.get('reason')}; judge minus human log-odds vs baseline")
    human = a.get("human")
    if human:
        add("agreement with human votes", "audit.human.agreement.value", human.get("agreement"),
            f"{human.get('battles')} decisive human votes on judged prompts")
        add("rank correlation with humans", "audit.human.spearman.value", human.get("spearman"),
            f"Spearman over {human.get('models')} models")
    return rows


def render(inputs: Sequence[Input], context: Context) -> Section | None:
    c = Collector()
    body, findings, prov = "", [], []
    for k, item in enumerate(inputs):
        require(item, "a `judge run --json`", ("judge.name", "baseline.name",
                                               *(f"models[{i}].model" for i in range(len(item.data["models"])))))
        d = item.data
        judge, baseline = str(d["judge"].get("name")), str(d["baseline"].get("name"))
        step = c.step(_step(step_id("judge", k, len(inputs)), d, item, context))
        rows, plot_rows = [], []
        for m in sorted(d["models"], key=lambda m: -((m.get("win_rate") or {}).get("value") or 0)):
            name = str(m["model"])
            cells, points = [], []
            for key, label in (("win_rate", "win rate"), ("lc_win_rate", "length-controlled")):
                est = m.get(key) or {}
                n = c.number(step, f"models[model={name}].{key}.value", f"{name} {label} vs {baseline}",
                             est.get("value"), est.get("ci_low"), est.get("ci_high"))
                cells.append(f"{num(est.get('value'), n)} {interval(est.get('ci_low'), est.get('ci_high'))}")
                if est.get("value") is not None:
                    points.append(svg.Point(label, est["value"], est.get("ci_low"), est.get("ci_high")))
            low, high = _style_win(m.get("style_rating"), "ci_low"), _style_win(m.get("style_rating"), "ci_high")
            n = c.number(step, f"models[model={name}].style_win_rate", f"{name} style-controlled win rate",
                         m.get("style_win_rate"), low, high)
            cells.append(f"{num(m.get('style_win_rate'), n)} {interval(low, high)}")
            if m.get("style_win_rate") is not None:
                points.append(svg.Point("style-controlled", m["style_win_rate"], low, high))
            rows.append([esc(name), *cells, esc(m.get("judgments")), esc(m.get("unparsable")),
                         esc(m.get("missing_answers"))])
            plot_rows.append(svg.Row(name, tuple(points)))
        a = d.get("audit") or {}
        desc = "; ".join(f"{r.label}: " + ", ".join(f"{p.series} {p.value:.3f}" for p in r.points) for r in plot_rows)
        body += (f"<h3>Judged by {esc(judge)} against {esc(baseline)} · {esc(d.get('prompts'))} prompts · "
                 f"{esc(d.get('judgments'))} judgments</h3>"
                 + table(["model", f"win rate vs {baseline} [95% CI]", "length-controlled [95% CI]",
                          "style-controlled [95% CI]", "judgments", "unparsable", "missing answers"], rows,
                         numeric=(1, 2, 3, 4, 5, 6))
                 + figure(svg.interval_plot(f"Win rate against {baseline}, judged by {judge}", desc, plot_rows,
                                            "win rate", reference=0.5),
                          "Win rate, length-controlled and style-controlled win rate with 95% intervals; the "
                          "dashed line is 0.5 (as good as the baseline). " + desc)
                 + "<h3>Judge audit</h3>"
                 + table(["measure", "value", "95% CI", "meaning"], _audit_rows(c, step, a), numeric=(1,)))
        body += "".join(f"<p class=\"muted\">{esc(x)}</p>" for x in [*(d.get("notes") or []), *(a.get("notes") or [])])
        biased = [label for label, est, fair in (
            ("position", (a.get("position") or {}).get("logodds"), 0.0),
            ("verbosity", (a.get("verbosity") or {}).get("logodds_per_doubling"), 0.0))
            if est and est.get("ci_low") is not None and not est["ci_low"] <= fair <= est["ci_high"]]
        biased += [f"self-preference for {r.get('model')}" for r in a.get("self_preference") or []
                   if (r.get("excess_logodds") or {}).get("ci_low") is not None and r["excess_logodds"]["ci_low"] > 0]
        findings.append(Finding(f"judge {judge}'s biases", "significant: " + ", ".join(biased) if biased else
                                "none significant (position, verbosity, self-preference)", anchor="judged"))
        prov += [("judge", f"{judge} = {d['judge'].get('id')}"), ("baseline", f"{baseline} = "
                 f"{d['baseline'].get('variant')}"), ("judge prompt hash", str((d.get("judge_prompt") or {})
                                                                              .get("hash"))),
                 ("input", f"{item.source} sha256 {item.sha256}")]
        prov += [("prompts", f"{(d.get('run') or {}).get('prompts', {}).get('source')} sha256 "
                  f"{(d.get('run') or {}).get('prompts', {}).get('sha256')}")] if (d.get("run") or {}).get(
            "prompts") else []
        prov += [("model", f"{m['model']} = {m.get('variant')}") for m in d["models"]]
    return Section("judged", "Judged leaderboard and judge audit", body, findings, c.steps, c.numbers, prov)


RENDERER = Renderer(("judge",), render)
