"""CLI commands for benchmark protocols: `glassboard protocols`, `glassboard claims check`, `audit protocols`,
and the protocol lines `glassboard eval` prints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from glassboard.cli.console import ConfigOption, clean_errors, fail, load_registry, stdout

T = TypeVar("T")

if TYPE_CHECKING:
    from glassboard.bench.protocol_score import ProtocolRun


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def protocol_line(run: ProtocolRun) -> str:
    score, protocol = run.score, run.protocol
    unparsed = "n/a" if score.unparsed_rate is None else f"{score.unparsed_rate:.1%}"
    return (f"  protocol {protocol.name} v{protocol.version} ({protocol.short_hash}): {_fmt(score.accuracy)}  "
            f"95% CI [{_fmt(score.ci_low)}, {_fmt(score.ci_high)}]   unparsed {unparsed} "
            f"({protocol.unparsed} rule)")


def claim_line(value: float, run: ProtocolRun) -> str:
    verdicts = run.claim(value)
    holds = [name for name, key in ((run.protocol.name, "verdict_protocol"), ("glassboard strict", "verdict_strict"),
                                    ("glassboard lenient", "verdict_lenient")) if verdicts[key] == "consistent"]
    where = ", ".join(holds) if holds else "none of them"
    return (f"  claim    {value:.3f}: {run.protocol.name} {verdicts['verdict_protocol']}, strict "
            f"{verdicts['verdict_strict']}, lenient {verdicts['verdict_lenient']} at 95%; holds under: {where}")


def register(app: typer.Typer) -> None:
    """`glassboard protocols` and the `glassboard claims` group (`audit protocols` is registered by cli/audit.py)."""
    app.command("protocols")(protocols_command)
    claims = typer.Typer(name="claims", no_args_is_help=True, help="Published scores as data, checked.")
    claims.command("check")(claims_check_command)
    app.add_typer(claims)


def protocols_command(
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task's protocols.")] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the built-in protocols per task: version, status, source and hash."""
    with clean_errors():
        from glassboard.bench.protocol import available
        from glassboard.bench.tasks import get_task

        if output not in ("table", "json"):
            fail(f"--format must be table or json, got {output!r}")
        protocols = available(get_task(task).name if task else None)
        if output == "json":
            rows = [{"task": p.task, **p.as_dict(), "description": p.description} for p in protocols]
            stdout().print_json(json.dumps(rows))
            return
        from rich.table import Table

        table = Table("task", "protocol", "version", "status", "sha256", "source", "unparsed")
        for p in protocols:
            source = str(p.source.get("repository", "")) + (f" @{str(p.source['commit'])[:8]}"
                                                             if "commit" in p.source else "")
            table.add_row(p.task, p.name, str(p.version), p.status, p.short_hash, source, p.unparsed)
        stdout().print(table)


def _pairs(values: list[str] | None, option: str, declared: set[str]) -> dict[str, Path]:
    """TASK=FILE pairs; TASK is a built-in task (any alias) or one of the `declared` task-file names."""
    from glassboard.bench.tasks import get_task

    pairs: dict[str, Path] = {}
    for value in values or []:
        name, eq, path = value.partition("=")
        if not eq or not path:
            fail(f"{option} must be TASK=FILE, got {value!r}")
        pairs[name if name in declared else get_task(name).name] = Path(path)
    return pairs


def _write_json(path: Path | None, data: Any) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _ci(accuracy: float | None, low: float | None, high: float | None) -> str:
    return f"{_fmt(accuracy)} [{_fmt(low)}, {_fmt(high)}]"


def claims_check_command(
    claims_file: Annotated[Path, typer.Argument(help="Claims (.toml with [[claim]] tables or .csv): model, task, "
                                                     "value, protocol, source, date.")],
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions of each task.")] = None,
    data: Annotated[list[str] | None, typer.Option(help="TASK=FILE: local data for a task (repeatable).")] = None,
    fewshot: Annotated[list[str] | None, typer.Option(help="TASK=FILE: few-shot exemplars (repeatable).")] = None,
    task_file: Annotated[list[Path] | None, typer.Option(help="A task declared in a TOML file, which claims may "
                                                              "name (repeatable): see docs/bench.md.")] = None,
    protocol_file: Annotated[list[Path] | None, typer.Option(help="A protocol TOML file of your own, which claims "
                                                                  "may name (repeatable).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    log_dir: Annotated[Path, typer.Option(help="Where per-sample run logs live.")] = Path("glassboard-runs"),
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 4,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Override max_tokens for every run.")] = None,
    config: ConfigOption = None,
) -> None:
    """Measure each claim under its own protocol and under glassboard's; a verdict per row (consistent / below /
    above at 95%) and the protocols under which the claim holds."""
    with clean_errors():
        from glassboard.bench.claimsfile import read_claims
        from glassboard.bench.sensitivity import Options, check_claims, plan_claims
        from glassboard.bench.taskfile import load_task_file

        claims = read_claims(claims_file)
        declared = {task.name: task for task in map(load_task_file, task_file or [])}
        plans = plan_claims(claims, _pairs(fewshot, "--fewshot", set(declared)), declared, protocol_file or [])
        data_files = _pairs(data, "--data", set(declared))
        registry = load_registry(config)
        variants = {c.model: registry.get(c.model) for c in claims}
        options = Options(concurrency=concurrency, log_dir=log_dir, max_tokens=max_tokens)
        results = asyncio.run(_with_hub(registry, lambda hub: check_claims(
            hub, variants, plans, data_files, limit, options)))
        console = stdout()
        for result in results:
            c, own, ours = result.claim, result.under_claim.score, result.under_glassboard
            verdicts = result.verdicts
            console.print(f"[bold]{escape(c.model)}[/] {c.task} claimed {c.value:.3f} under {escape(c.protocol)} "
                          f"({escape(c.source) or 'no source'}{', ' + escape(c.date) if c.date else ''})",
                          highlight=False, soft_wrap=True)
            console.print(f"  {c.protocol:<18} {_ci(own.accuracy, own.ci_low, own.ci_high)}  "
                          f"{verdicts[c.protocol]}", highlight=False, soft_wrap=True)
            console.print(f"  {'glassboard strict':<18} {_ci(*ours.strict)}  {verdicts['glassboard strict']}",
                          highlight=False, soft_wrap=True)
            console.print(f"  {'glassboard lenient':<18} {_ci(*ours.lenient)}  {verdicts['glassboard lenient']}",
                          highlight=False, soft_wrap=True)
            holds = ", ".join(result.holds_under) or "none of them"
            console.print(f"  holds under: {holds}", highlight=False, soft_wrap=True)
        _write_json(json_out, {"claims": [r.as_dict() for r in results]})


def audit_protocols_command(
    model: Annotated[str, typer.Argument(help="Variant name or alias.")],
    task: Annotated[str | None, typer.Option("--task", "-t", help="Benchmark task.")] = None,
    task_file: Annotated[Path | None, typer.Option(help="A task declared in a TOML file (data, kind, field "
                                                        "mapping): see docs/bench.md.")] = None,
    protocols: Annotated[str | None, typer.Option(help="Comma-separated protocol names (default: every built-in "
                                                        "protocol of the task, glassboard first).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions.")] = None,
    data: Annotated[Path | None, typer.Option(help="Local data file in the hub's field names.")] = None,
    fewshot: Annotated[Path | None, typer.Option(help="Few-shot exemplars for protocols that need them.")] = None,
    protocol_file: Annotated[list[Path] | None, typer.Option(help="A protocol TOML file of your own, asked after "
                                                                  "the named ones (repeatable).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    log_dir: Annotated[Path, typer.Option(help="Where per-sample run logs live.")] = Path("glassboard-runs"),
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 4,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Override max_tokens for every run.")] = None,
    config: ConfigOption = None,
) -> None:
    """Ask the same questions under each protocol: accuracy with CI, unparsed rate, the paired difference against
    the first protocol (same questions) and the largest gap."""
    with clean_errors():
        from glassboard.bench.protocol import available
        from glassboard.bench.protocol_render import prepare
        from glassboard.bench.sensitivity import Options, sensitivity
        from glassboard.bench.taskfile import resolve_task

        bench_task = resolve_task(task, task_file)
        if protocols:
            names = [n.strip() for n in protocols.split(",") if n.strip()]
        elif bench_task.protocol_data is not None:  # a task file's task: its own protocol, then the user's files
            names = ["glassboard"]
        else:
            names = [p.name for p in available(bench_task.name)]
        renderers = [prepare(bench_task, name, fewshot=fewshot) for name in names]
        renderers += [prepare(bench_task, path=path, fewshot=fewshot) for path in protocol_file or []]
        if not renderers:
            fail("no protocols to compare: name them with --protocols or pass --protocol-file")
        first = renderers[0].protocol.name
        registry = load_registry(config)
        variant = registry.get(model)
        dataset = bench_task.load(data, limit)
        options = Options(concurrency=concurrency, log_dir=log_dir, max_tokens=max_tokens)
        report = asyncio.run(_with_hub(registry, lambda hub: sensitivity(hub, variant, bench_task, dataset,
                                                                         renderers, options)))
        from rich.table import Table

        table = Table("protocol", "accuracy [95% CI]", "unparsed", f"diff vs {first} [95% CI]", "errors",
                      title=f"{bench_task.name} · {escape(variant.name)} · {report.questions} questions")
        for row in report.protocols:
            d = row.diff_vs_first
            if d is None:
                diff = "—"
            elif d.identical:
                diff = f"{_fmt(d.diff)} (identical on all {d.n} questions: no interval)"
            else:
                diff = _ci(d.diff, d.ci_low, d.ci_high)
            unparsed = "n/a" if row.unparsed_rate is None else f"{row.unparsed_rate:.1%}"
            table.add_row(row.protocol.name, _ci(row.accuracy, row.ci_low, row.ci_high), unparsed, diff,
                          str(row.errors))
        console = stdout()
        console.print(table)
        gap = report.largest_gap
        if gap is not None:
            where = f"{gap.highest} above {gap.lowest}" if gap.gap > 0 else "every protocol scored the same"
            console.print(f"largest gap: {gap.gap:.3f} ({where})", highlight=False, soft_wrap=True)
        _write_json(json_out, report.to_json())


async def _with_hub(registry: Any, work: Callable[[Any], Awaitable[T]]) -> T:
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        return await work(hub)
