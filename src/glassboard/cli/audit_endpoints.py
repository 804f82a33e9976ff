"""`glassboard audit contamination` and `glassboard audit providers`: the audits that send a benchmark's items to
model endpoints (the other audit commands are in cli/audit.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from glassboard.cli.audit_common import (
    DataOption,
    JsonOption,
    LimitOption,
    SeedOption,
    fmt,
    load_task,
    progress_bar,
    show_report,
    verdict_style,
    write_json,
)
from glassboard.cli.console import ConfigOption, clean_errors, eval_progress, load_registry, stdout
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit

if TYPE_CHECKING:
    from glassboard.audit.contamination_report import ContaminationReport
    from glassboard.audit.providers import ProvidersReport


# ------------------------------------------------------------------------------------------- contamination
def contamination_command(
    model: Annotated[str, typer.Argument(help="Variant to probe.")],
    task: Annotated[str, typer.Option("--task", help="Multiple-choice task: mmlu-pro or gpqa-diamond.")],
    data: DataOption = None,
    limit: LimitOption = None,
    reference: Annotated[str | None, typer.Option(help="A clean model whose rates are the baselines.")] = None,
    probes: Annotated[str, typer.Option(help="Comma-separated: ts_guessing, shuffle, min_k.")]
    = "ts_guessing,shuffle,min_k",
    shuffles: Annotated[int, typer.Option(help="Shuffled orders per item.")] = 2,
    controls: Annotated[int, typer.Option(help="Re-ordered control items per item (Min-K%++).")] = 2,
    seed: SeedOption = 0,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
    config: ConfigOption = None,
) -> None:
    """Text-only contamination probes: TS-Guessing, option-order shuffle, Min-K%++ (weak evidence; see caveats)."""
    from glassboard.audit.contamination import ContaminationOptions

    with clean_errors():
        registry = load_registry(config)
        registry.get(model)
        if reference:
            registry.get(reference)
        options = ContaminationOptions(
            shuffles=shuffles, controls=controls, seed=seed, reference=reference,
            probes=tuple(p.strip() for p in probes.split(",") if p.strip()),
        )
        options.validate()
        task_obj, dataset = load_task(task, data, limit)
        report = asyncio.run(_contamination(registry, model, task_obj, dataset, options))
    show_report(report, fmt, _print_contamination, _contamination_listing)
    write_json(json_out, report)


async def _contamination(registry: Any, model: str, task: Any, dataset: Any, options: Any) -> ContaminationReport:
    from glassboard.audit.contamination import audit_contamination, planned_generations
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        total = planned_generations(dataset.samples, options)
        with progress_bar(total, f"probing {model}") as advance:
            return await audit_contamination(hub, model, task, dataset.samples, options, advance,
                                             source=dataset.source, sha256=dataset.sha256)


def _print_contamination(report: ContaminationReport) -> None:
    from glassboard.audit.contamination_report import ShuffleProbe, SkippedProbe, TsGuessing

    console = stdout()
    console.print(f"[bold]contamination[/] {report.model['name']} on {report.task} ({report.items} items): "
                  f"{verdict_style(report.verdict)}")
    for key, probe in report.probes.ran():
        verdict = verdict_style(probe.verdict)
        if isinstance(probe, SkippedProbe):
            console.print(f"  {key}: {verdict} ({probe.reason})")
        elif isinstance(probe, TsGuessing):
            console.print(f"  TS-Guessing: exact match {probe.exact_match}/{probe.items} = {fmt(probe.rate)} "
                          f"[{fmt(probe.ci_low)}, {fmt(probe.ci_high)}], baseline {fmt(probe.baseline)}"
                          f"{'' if probe.reference_rate is None else ', reference ' + fmt(probe.reference_rate)}"
                          f": {verdict}")
        elif isinstance(probe, ShuffleProbe):
            console.print(f"  option shuffle: accuracy {fmt(probe.canonical_accuracy)} canonical vs "
                          f"{fmt(probe.shuffled_accuracy)} shuffled, drop {fmt(probe.drop)} "
                          f"[{fmt(probe.ci_low)}, {fmt(probe.ci_high)}] (baseline 0): {verdict}")
        else:
            console.print(f"  Min-K%++: items {fmt(probe.item_score)} vs controls {fmt(probe.baseline)}, "
                          f"gap {fmt(probe.difference)} [{fmt(probe.ci_low)}, {fmt(probe.ci_high)}]: "
                          f"{verdict}")
    console.print("  [dim]caveat: membership-inference scores are weak evidence; 'no signal' is not proof of a "
                  "clean model (all caveats are in the JSON report)[/]")
    console.print(f"  [dim]{report.elapsed_s} s, {report.cpu_s} CPU s[/]")


def _contamination_listing(report: ContaminationReport) -> Listing:
    from glassboard.audit.contamination_report import SkippedProbe

    columns = (Column("probe", key_column=True), Column("verdict"), Column("ci_low"), Column("ci_high"),
               Column("reason"))
    rows = [(key, probe.verdict, *((None, None, probe.reason) if isinstance(probe, SkippedProbe)
                                   else (probe.ci_low, probe.ci_high, None)))
            for key, probe in report.probes.ran()]
    return Listing(f"contamination · {report.model['name']} · {report.task}", columns, rows)


# ----------------------------------------------------------------------------------------------- providers
def providers_command(
    models: Annotated[list[str], typer.Argument(help="Endpoints serving the same model; the first is the reference.")],
    task: Annotated[str, typer.Option("--task", help="Benchmark task (gsm8k, mmlu-pro, ...).")],
    data: DataOption = None,
    limit: LimitOption = None,
    epochs: Annotated[int, typer.Option(help="Epochs per item.")] = 1,
    concurrency: Annotated[int, typer.Option(help="Concurrent requests per endpoint.")] = 4,
    log_dir: Annotated[Path, typer.Option("--log-dir", help="Where the eval logs go (reused on re-runs).")]
    = Path("glassboard-runs"),
    identity: Annotated[bool, typer.Option(help="Run the identity test of each endpoint against the reference.")]
    = True,
    identity_prompts: Annotated[int, typer.Option(help="Identity test: prompts.")] = 10,
    identity_samples: Annotated[int, typer.Option(help="Identity test: completions per prompt and side.")] = 8,
    identity_max_tokens: Annotated[int, typer.Option(help="Identity test: tokens per completion.")] = 24,
    seed: SeedOption = 0,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
    config: ConfigOption = None,
) -> None:
    """The same model behind several endpoints: accuracy with CIs, paired differences and identity vs the first."""
    from glassboard.audit.identity import IdentityOptions
    from glassboard.audit.prompts import load_prompts
    from glassboard.audit.providers import ProvidersOptions

    with clean_errors():
        registry = load_registry(config)
        for name in models:
            registry.get(name)
        options = ProvidersOptions(
            epochs=epochs, concurrency=concurrency, log_dir=log_dir, run_identity=identity,
            identity=IdentityOptions(prompts=load_prompts(None, identity_prompts), samples=identity_samples,
                                     max_tokens=identity_max_tokens, seed=seed, logprobs=False),
        )
        options.validate()
        task_obj, dataset = load_task(task, data, limit)
        report = asyncio.run(_providers(registry, models, task_obj, dataset, options))
    show_report(report, fmt, _print_providers, _providers_listing)
    write_json(json_out, report)


async def _providers(registry: Any, models: list[str], task: Any, dataset: Any, options: Any) -> ProvidersReport:
    from glassboard.audit.providers import audit_providers
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        per_pair = 2 * len(options.identity.prompts) * options.identity.samples if options.run_identity else 0
        with eval_progress(f"{task.name} per endpoint") as bar, \
                progress_bar(per_pair * (len(models) - 1), "identity tests") as advance:
            return await audit_providers(hub, models, task, dataset, options, advance, eval_progress=bar)


def _providers_listing(report: ProvidersReport) -> Listing:
    columns = tuple(Column(key, key_column=key == "model") for key in (
        "model", "accuracy", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "unparsed_rate",
        "truncated_rate", "identity", "identity_p", "flagged"))
    rows = []
    for row in report.endpoints:
        paired, identity = row.vs_reference, row.identity
        rows.append((row.model, row.accuracy, row.ci_low, row.ci_high, *(
            (paired.diff, paired.ci_low, paired.ci_high) if paired else (None, None, None)), row.unparsed_rate,
            row.truncated_rate, *((identity.verdict, identity.p_value) if identity else (None, None)), row.flagged))
    return Listing(f"providers · {report.task}", columns, rows)


def _print_providers(report: ProvidersReport) -> None:
    columns = (Column("endpoint", key_column=True), Column("accuracy [95% CI]"), Column("vs reference [95% CI]"),
               Column("unparsed"), Column("truncated"), Column("identity"), Column("flag"))
    rows = []
    for row in report.endpoints:
        paired, identity = row.vs_reference, row.identity
        rows.append((
            row.model,
            f"{fmt(row.accuracy)} [{fmt(row.ci_low)}, {fmt(row.ci_high)}]",
            "reference" if row.reference else (
                f"{paired.diff:+.3f} [{fmt(paired.ci_low)}, {fmt(paired.ci_high)}]" if paired else "–"),
            fmt(row.unparsed_rate, 2),
            fmt(row.truncated_rate, 2),
            "" if identity is None else f"{identity.verdict} (p={identity.p_value:.3f})",
            "outlier" if row.flagged else "",
        ))
    title = f"providers · {report.task} · {report.data.items} items · reference {report.reference}"
    emit(Listing(title, columns, rows), OutputFormat.table)
    console = stdout()
    for row in report.endpoints:
        for reason in row.reasons:
            console.print(f"  [red]{row.model}[/]: {reason}")
    if not report.flagged:
        console.print("  [green]no endpoint differs from the reference[/]")
    console.print(f"  [dim]{report.elapsed_s} s, {report.cpu_s} CPU s[/]")
