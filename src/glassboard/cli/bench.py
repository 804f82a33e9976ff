"""CLI commands of glassboard.bench (registered on the root Typer app): `eval` and `compare`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from glassboard.cli.console import ConfigOption, clean_errors, fail, load_registry, stderr, stdout
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit

if TYPE_CHECKING:
    from glassboard.bench.claims import ClaimCheck
    from glassboard.bench.protocol_render import Renderer as ProtocolRenderer
    from glassboard.bench.runner import RunResult
    from glassboard.bench.summary import RunSummary
    from glassboard.bench.tasks import Dataset, Task
    from glassboard.models.registry import Registry, Variant

TASK_NAMES = "gsm8k, math500, math-l5, mmlu-pro, gpqa-diamond"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("eval")(eval_command)
    app.command("compare")(compare_command)


def eval_command(
    model: Annotated[str, typer.Argument(help="Variant name or alias (see `glassboard models`).")],
    task: Annotated[str | None, typer.Option("--task", "-t", help=f"Benchmark: {TASK_NAMES}.")] = None,
    task_file: Annotated[Path | None, typer.Option(help="A task declared in a TOML file (data, kind, field "
                                                        "mapping): see docs/bench.md.")] = None,
    data: Annotated[Path | None, typer.Option(help="Local JSONL/CSV/Parquet file with the hub's field names "
                                                   "(default: the Hugging Face hub, needs `datasets`).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N questions.")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Answers per question (for CIs and per-question variance).")] = 1,
    concurrency: Annotated[int | None, typer.Option(
        min=1, help="Requests in flight (default: the variant's 'concurrency' option, else 32; 1 for llama_cpp).",
    )] = None,
    claim: Annotated[str | None, typer.Option(help="A claimed score (0.55, 55 or 55%) to check at 95%.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the summary as JSON to this file.")] = None,
    inspect_log: Annotated[Path | None, typer.Option(help="Also write the run as an Inspect AI eval log "
                                                          "into this directory (`inspect view` opens it).")] = None,
    log_dir: Annotated[Path, typer.Option(help="Where per-sample run logs live.")] = Path("glassboard-runs"),
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Override the variant's max_tokens "
                                                               "(a different variant id).")] = None,
    temperature: Annotated[float | None, typer.Option(help="Override the variant's temperature "
                                                           "(a different variant id).")] = None,
    config: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    strict_data: Annotated[bool, typer.Option("--strict-data", help="Stop at the first defective data row "
                                                                    "instead of skipping it with a warning.")] = False,
    fmt: FormatOption = OutputFormat.table,
    protocol: Annotated[str | None, typer.Option(help="Ask and score under this protocol (see `glassboard "
                                                      "protocols`; default glassboard).")] = None,
    protocol_file: Annotated[Path | None, typer.Option(help="A protocol TOML file of your own.")] = None,
    fewshot: Annotated[Path | None, typer.Option(help="Few-shot exemplars in the hub's field names, for protocols "
                                                      "that need them.")] = None,
    shuffle: Annotated[bool | None, typer.Option("--shuffle/--no-shuffle", help="Override the protocol's option "
                                                 "order (a different protocol hash).")] = None,
) -> None:
    """Run a benchmark on MODEL; prints strict and lenient accuracy with 95% CIs, the unparsed rate, model errors
    and where the per-sample records are. Re-running the same command resumes."""
    with clean_errors():
        from glassboard.bench.claims import check_claim, parse_claim
        from glassboard.bench.claimsfile import split_claim
        from glassboard.bench.protocol_render import prepare as prepare_protocol
        from glassboard.bench.protocol_score import ProtocolRun
        from glassboard.bench.runner import with_overrides
        from glassboard.bench.taskfile import resolve_task
        from glassboard.cli.protocols import claim_line, protocol_line

        claim_text, claim_protocol = split_claim(claim) if claim is not None else (None, None)
        claim_value = parse_claim(claim_text) if claim_text is not None else None
        bench_task = resolve_task(task, task_file)
        if protocol and claim_protocol and protocol != claim_protocol:
            fail(f"--claim names protocol '{claim_protocol}' but --protocol is '{protocol}': the claim is checked "
                 "under the protocol it was made with; drop one of them")
        renderer = prepare_protocol(bench_task, protocol or claim_protocol, protocol_file, fewshot, shuffle)
        registry = load_registry(config)
        variant = with_overrides(with_overrides(registry.get(model), **renderer.protocol.sampling),
                                 max_tokens=max_tokens, temperature=temperature)
        dataset = bench_task.load(data, limit, strict=strict_data)
        show_data_warnings(dataset.warnings)
        if concurrency is None:
            concurrency = int(variant.option("concurrency", 1 if variant.backend == "llama_cpp" else 32))
        result = asyncio.run(_run(registry, variant, bench_task, dataset, epochs, concurrency, log_dir, progress,
                                  renderer))
        summary = dataclasses.replace(result.summary, data_warnings=dataset.warnings)
        check = check_claim(claim_value, summary.strict.ci, summary.lenient.ci) if claim_value is not None else None
        scored = ProtocolRun.of(renderer.protocol, summary)
        data_out: dict[str, Any] = {**summary.as_dict(), "log": str(result.log_path.resolve()), **scored.as_dict()}
        if check is not None and claim_value is not None:
            data_out["claim"] = {**check.as_dict(), **scored.claim(claim_value)}
        if fmt is OutputFormat.table:
            _print_summary(result, summary, dataset.source, None)  # the claim line below covers the protocol too
            stdout().print(protocol_line(scored), highlight=False, soft_wrap=True)
            if claim_value is not None:
                stdout().print(claim_line(claim_value, scored), highlight=False, soft_wrap=True)
        else:
            emit(_scores_listing(summary), fmt, document=data_out if fmt is OutputFormat.json else None)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(data_out, indent=2) + "\n", encoding="utf-8")
        if inspect_log is not None:
            try:
                from glassboard.bench.inspect_interop import write_inspect_log
            except ImportError:
                fail("--inspect-log needs Inspect AI: pip install 'glassboard[inspect]'")
            path = write_inspect_log(summary, inspect_log, stopped=result.stopped)
            console = stdout() if fmt is OutputFormat.table else stderr()
            console.print(f"  inspect  {path}  (open with: inspect view --log-dir {inspect_log})",
                          highlight=False, soft_wrap=True)
        if result.stopped:
            fail(f"endpoint down, run stopped early: {result.stopped}. {summary.n} finished samples are stored in "
                 f"{result.log_path}; re-run the same command to resume")


async def _run(registry: Registry, variant: Variant, task: Task, dataset: Dataset, epochs: int, concurrency: int,
               log_dir: Path, progress: bool, renderer: ProtocolRenderer | None = None) -> RunResult:
    from glassboard.bench.runner import run_eval
    from glassboard.cli.console import eval_progress
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        with eval_progress(f"{task.name} · {variant.name}", enabled=progress) as bar:
            return await run_eval(hub, variant, task, dataset.samples, epochs=epochs, concurrency=concurrency,
                                  log_dir=log_dir, data_source=dataset.source, data_sha256=dataset.sha256,
                                  progress=bar, renderer=renderer)


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def show_data_warnings(warnings: Sequence[Any], shown: int = 10) -> None:
    """Each data warning on stderr (the first `shown`); all of them are in the JSON summary."""
    from rich.markup import escape

    console = stderr()
    for warning in warnings[:shown]:
        console.print(f"[yellow]data warning:[/] {escape(str(warning))}", highlight=False, soft_wrap=True)
    if len(warnings) > shown:
        console.print(f"[yellow]data warning:[/] {len(warnings) - shown} more (listed in the JSON summary as "
                      "data_warnings)", highlight=False, soft_wrap=True)


def _scores_listing(summary: RunSummary) -> Listing:
    """One row per scoring, for --format csv (json writes the whole summary)."""
    columns = (Column("scoring", key_column=True), Column("accuracy"), Column("ci_low"), Column("ci_high"),
               Column("se"), Column("unparsed_rate"), Column("n"), Column("questions"), Column("errors"),
               Column("data_warnings"))
    rows = []
    for name in ("strict", "lenient"):
        score = getattr(summary, name)
        low, high = score.ci
        rows.append((name, score.accuracy, low, high, score.estimate.se, score.unparsed_rate, summary.n,
                     summary.questions, summary.errors, len(summary.data_warnings)))
    return Listing(f"{summary.task} · {summary.model}", columns, rows)


def _print_summary(result: RunResult, summary: RunSummary, source: str, check: ClaimCheck | None) -> None:
    from rich.markup import escape

    console = stdout()
    epochs = f"{summary.epochs} epoch{'s' if summary.epochs != 1 else ''}"
    console.print(f"[bold]{summary.task}[/] · {escape(summary.model)} ({summary.variant_id}) · "
                  f"{summary.questions} questions × {epochs} · data {escape(source)}", highlight=False, soft_wrap=True)
    for name in ("strict", "lenient"):
        score = getattr(summary, name)
        low, high = score.ci
        extra = ""
        if score.subject is not None and score.subject.se is not None:
            extra = f"   SE by subject {score.subject.se:.3f} ({score.subject.clusters} subjects)"
        console.print(f"  {name:<8} {_fmt(score.accuracy)}  95% CI [{_fmt(low)}, {_fmt(high)}]   "
                      f"unparsed {_fmt(score.unparsed_rate, pct=True)}{extra}", highlight=False, soft_wrap=True)
    if summary.epochs > 1 and summary.strict.within_question_var is not None:
        console.print(f"  epochs   within-question variance: strict {summary.strict.within_question_var:.3f}, "
                      f"lenient {summary.lenient.within_question_var:.3f}", highlight=False, soft_wrap=True)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary.error_kinds.items()))
    note = f" ({kinds}; not scored, retried on re-run)" if summary.errors else " (model errors are never scored)"
    console.print(f"  errors   {summary.errors}{note}", highlight=False, soft_wrap=True)
    if summary.data_warnings:
        console.print(f"  data     {len(summary.data_warnings)} warnings (defective rows skipped or repaired; "
                      "see stderr or the JSON summary)", highlight=False, soft_wrap=True)
    console.print(f"  samples  {escape(str(result.log_path))} ({summary.n} scored: {result.requested} requested "
                  f"now, {result.resumed} resumed from the log)", highlight=False, soft_wrap=True)
    if check is not None:
        console.print(f"  claim    {check.value:.3f}: strict {check.verdict_strict}, lenient {check.verdict_lenient}"
                      f" at 95% — {check.matches}", highlight=False, soft_wrap=True)


def compare_command(
    run_a: Annotated[Path, typer.Argument(help="Run log (.jsonl) or `eval --json` summary of run A.")],
    run_b: Annotated[Path, typer.Argument(help="Run log (.jsonl) or `eval --json` summary of run B.")],
    delta: Annotated[float | None, typer.Option(help="Difference to detect for the power line "
                                                     "(default: the observed one).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the comparison as JSON here.")] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Paired difference A - B over the questions both runs scored, with SE and 95% CI, per scoring."""
    with clean_errors():
        from rich.markup import escape

        from glassboard.bench.summary import SCORINGS, compare_runs, load_run

        comparison = compare_runs(load_run(run_a), load_run(run_b))
        a, b = comparison.a, comparison.b
        out: dict[str, Any] = {"task": a.task, "a": str(a.log), "b": str(b.log)}
        lines = [f"[bold]{a.task}[/]: A = {escape(a.model)} ({a.variant_id}), B = {escape(b.model)} ({b.variant_id})"]
        rows = []
        for scoring in SCORINGS:
            result = comparison.results[scoring]
            diff = result.diff
            if result.significant:
                verdict = "A higher" if (diff.mean or 0) > 0 else "B higher"
            else:
                verdict = "no significant difference"
            needed = comparison.questions_needed(scoring, delta)
            power = f"; {needed} questions to detect {abs(delta or diff.mean or 0):.3f} at 80% power" if needed else ""
            lines.append(f"  {scoring:<8} A {_fmt(result.mean_a)}  B {_fmt(result.mean_b)}  A-B {_fmt(diff.mean)}  "
                         f"SE {_fmt(diff.se)}  95% CI [{_fmt(diff.ci_low)}, {_fmt(diff.ci_high)}]  "
                         f"{verdict} ({result.n} shared questions{power})")
            out[scoring] = {**result.as_dict(), "questions_needed": needed}
            rows.append((scoring, result.mean_a, result.mean_b, diff.mean, diff.se, diff.ci_low, diff.ci_high,
                         result.n, verdict, needed))
        if fmt is OutputFormat.table:
            console = stdout()
            for line in lines:
                console.print(line, highlight=False, soft_wrap=True)
        else:
            columns = tuple(Column(key) for key in ("scoring", "mean_a", "mean_b", "diff", "se", "ci_low", "ci_high",
                                                   "shared_questions", "verdict", "questions_needed"))
            emit(Listing(f"{a.task}: A - B", columns, rows), fmt, document=out if fmt is OutputFormat.json else None)
        if json_out is not None:
            json_out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
