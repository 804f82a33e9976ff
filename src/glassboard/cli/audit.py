"""CLI commands of glassboard.audit: `glassboard audit identity|style|contamination|providers`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from glassboard.cli.console import ConfigOption, clean_errors, fail, load_registry, stdout
from glassboard.cli.context import context_command  # issue 13
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit

JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the full report as JSON to this file.")]
SeedOption = Annotated[int, typer.Option(help="Seed for every sampled call and permutation (reproducible runs).")]
DataOption = Annotated[Path | None, typer.Option("--data", help="Local data file (the hub's field names).")]
LimitOption = Annotated[int | None, typer.Option(help="Use the first N items.")]


def register(app: typer.Typer) -> None:
    """Add the `audit` command group to the root app."""
    audit = typer.Typer(
        name="audit", no_args_is_help=True,
        help="Integrity audits: model identity, style-driven ranks, contamination, provider agreement.",
    )
    audit.command("identity")(identity_command)
    audit.command("style")(style_command)
    audit.command("contamination")(contamination_command)
    audit.command("providers")(providers_command)
    audit.command("context")(context_command)
    app.add_typer(audit)


# ------------------------------------------------------------------------------------------------ plumbing
@contextlib.contextmanager
def _audit_errors() -> Iterator[None]:
    """glassboard's own errors (and the rating library's) become one red line and exit code 2."""
    from glassboard.rating.errors import RatingError

    with clean_errors():
        try:
            yield
        except RatingError as err:
            fail(str(err))
        except OSError as err:
            fail(f"{getattr(err, 'filename', '') or ''} {err.strerror or err}".strip())


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr, started at the first completion (so it never overlaps another live display,
    e.g. the bench runner's); yields the callback the audits call once per finished completion."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from glassboard.cli.console import stderr

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=stderr(), transient=True)
    task = bar.add_task(label, total=total)

    def advance(n: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.advance(task, n)

    try:
        yield advance
    finally:
        bar.stop()


def _show(report: dict[str, Any], fmt: OutputFormat, print_table: Callable[[dict], None],
          listing: Callable[[dict], Listing]) -> None:
    """The report for people (table), as JSON (the whole report) or as CSV (its main table)."""
    if fmt is OutputFormat.table:
        print_table(report)
    else:
        emit(listing(report), fmt, document=report if fmt is OutputFormat.json else None)


def _write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=_json_default) + "\n",
                        encoding="utf-8")
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror or err}")
    from glassboard.cli.console import stderr

    stderr().print(f"[dim]report written to {path}[/]")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _verdict_style(verdict: str) -> str:
    bad = verdict in ("different", "signal", "contamination signal", "flagged")
    return f"[bold {'red' if bad else 'green'}]{verdict}[/]"


def _load_task(task_name: str, data: Path | None, limit: int | None) -> tuple[Any, Any]:
    from glassboard.bench.tasks import get_task

    task = get_task(task_name)
    if limit is not None and limit < 1:
        fail("--limit must be at least 1")
    return task, task.load(data, limit)


# ------------------------------------------------------------------------------------------------ identity
def identity_command(
    model_a: Annotated[str, typer.Argument(help="Variant (name or alias) or endpoint A.")],
    model_b: Annotated[str, typer.Argument(help="Variant or endpoint B (may be A again: two independent samples).")],
    prompts: Annotated[int, typer.Option("--prompts", help="Number of prompts (the first N of the set).")] = 10,
    samples: Annotated[int, typer.Option("--samples", help="Completions per prompt and side.")] = 10,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Tokens per completion (capped by the variant's).")]
    = 24,
    seed: SeedOption = 0,
    temperature: Annotated[float | None, typer.Option(
        help="Sample both sides at this temperature (default: each variant's own, part of what it serves)."
    )] = None,
    prompt_file: Annotated[Path | None, typer.Option(
        "--prompt-file", help="Prompts from a .jsonl ({\"prompt\": ...}) or .txt file instead of the built-in set."
    )] = None,
    length: Annotated[int, typer.Option(help="Characters compared by the Hamming kernel.")] = 100,
    permutations: Annotated[int, typer.Option(help="Permutations for the p-value.")] = 1000,
    alpha: Annotated[float, typer.Option(help="Significance level of the verdict.")] = 0.05,
    logprobs: Annotated[bool, typer.Option(help="Re-score completions under both sides (local llama.cpp).")] = True,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
    config: ConfigOption = None,
) -> None:
    """Are A and B the same model? MMD two-sample test on sampled completions (Gao, Liang, Guestrin 2024)."""
    from glassboard.audit.identity import IdentityOptions
    from glassboard.audit.prompts import load_prompts

    with _audit_errors():
        registry = load_registry(config)
        registry.get(model_a), registry.get(model_b)
        options = IdentityOptions(
            prompts=load_prompts(prompt_file, prompts), samples=samples, max_tokens=max_tokens, seed=seed,
            temperature=temperature, length=length, permutations=permutations, alpha=alpha, logprobs=logprobs,
        )
        options.validate()
        report = asyncio.run(_identity(registry, model_a, model_b, options))
    _show(report, fmt, _print_identity, _identity_listing)
    _write_json(json_out, report)


async def _identity(registry: Any, a: str, b: str, options: Any) -> dict:
    from glassboard.audit.identity import audit_identity
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        with _progress(2 * len(options.prompts) * options.samples, f"sampling {a} and {b}") as advance:
            return await audit_identity(hub, a, b, options, advance)


def _print_identity(report: dict) -> None:
    console = stdout()
    s = report["settings"]
    console.print(
        f"[bold]identity[/] {report['model_a']['name']} vs {report['model_b']['name']}: "
        f"{_verdict_style(report['verdict'])}"
        f"  MMD² = {report['statistic']:.4f}, p = {report['p_value']:.4f} (alpha {report['alpha']})"
    )
    console.print(
        f"  {report['samples']} completions ({s['prompts']} prompts x {s['samples_per_prompt']} x 2 sides, "
        f"max {s['max_tokens_a']}/{s['max_tokens_b']} tokens, T = {s['temperature_a']}/{s['temperature_b']}); "
        f"kernel similarity within A {report['within_a']:.3f}, within B {report['within_b']:.3f}, "
        f"across {report['across']:.3f}"
    )
    lp = report["logprobs"]
    if lp.get("available"):
        console.print(f"  logprobs: mean |Δ log p| = {lp['mean_abs_delta']:.4f} per token over {lp['tokens']} tokens "
                      f"({'identical' if lp['identical'] else 'not identical'})")
    else:
        console.print(f"  [dim]logprob comparison not available: {lp.get('reason')}[/]")
    console.print(f"  [dim]{report['elapsed_s']} s, {report['cpu_s']} CPU s, {report['tokens_generated']} tokens[/]")


def _identity_listing(report: dict) -> Listing:
    columns = tuple(Column(key) for key in ("model_a", "model_b", "verdict", "statistic", "p_value", "alpha",
                                            "samples"))
    row = (report["model_a"]["name"], report["model_b"]["name"], report["verdict"], report["statistic"],
           report["p_value"], report["alpha"], report["samples"])
    return Listing("identity", columns, [row])


# --------------------------------------------------------------------------------------------------- style
def style_command(
    file: Annotated[Path | None, typer.Argument(help="Battle file (.jsonl, .json or .parquet; LMArena schema).")]
    = None,
    db: Annotated[str | None, typer.Option("--db", help="Read the voted battles of an arena database instead.")]
    = None,
    ci: Annotated[str, typer.Option(help="Interval method of the rating library: sandwich or bootstrap.")]
    = "sandwich",
    rounds: Annotated[int | None, typer.Option(help="Bootstrap rounds (with --ci bootstrap).")] = None,
    seed: SeedOption = 0,
    include_flagged: Annotated[bool, typer.Option(help="Count battles flagged e.g. identity_revealed.")] = False,
    skip_invalid: Annotated[bool, typer.Option(help="Skip invalid rows with a warning instead of failing.")] = False,
    json_out: JsonOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Per variant: answer style, raw vs style-controlled rating and rank; flags ranks that come from style."""
    from glassboard.audit.style import audit_style, load_db_battles

    if (file is None) == (db is None):
        fail("give either a battle FILE or --db URL")
    if ci not in ("sandwich", "bootstrap"):
        fail(f"--ci must be sandwich or bootstrap, got {ci!r}")
    with _audit_errors():
        on_invalid = "skip" if skip_invalid else "error"
        if db is not None:
            source: Any = load_db_battles(db)
            if not source:
                fail(f"the arena database {db} has no voted battles")
            name = db
        else:
            assert file is not None
            if not file.is_file():
                fail(f"battle file not found: {file}")
            source, name = file, str(file)
        report = audit_style(source, source=name, ci=ci, rounds=rounds, seed=seed,
                             include_flagged=include_flagged, on_invalid=on_invalid)
    _show(report, fmt, _print_style, _style_listing)
    _write_json(json_out, report)


def _style_listing(report: dict) -> Listing:
    keys = ("model", "tokens", "emoji", "headers", "lists", "bold", "rating", "ci_low", "ci_high", "rank",
            "style_rating", "style_ci_low", "style_ci_high", "style_rank", "flagged")
    columns = tuple(Column(key, key_column=key == "model") for key in keys)
    rows = [tuple(v[k] for k in keys) for v in report["variants"]]
    return Listing(f"style audit · {report['source']}", columns, rows)


def _print_style(report: dict) -> None:
    columns = (Column("model", key_column=True), *(Column(c, justify="right") for c in (
        "tokens", "emoji", "headers", "lists", "bold", "rating (raw)", "rank", "style-controlled", "rank sc")),
        Column("flag"))
    rows = [(v["model"], _fmt(v["tokens"], 1), _fmt(v["emoji"], 2), _fmt(v["headers"], 2), _fmt(v["lists"], 2),
             _fmt(v["bold"], 2), f"{v['rating']:.0f} [{v['ci_low']:.0f}, {v['ci_high']:.0f}]", str(v["rank"]),
             f"{v['style_rating']:.0f} [{v['style_ci_low']:.0f}, {v['style_ci_high']:.0f}]", str(v["style_rank"]),
             "rank from style" if v["flagged"] else "") for v in report["variants"]]
    emit(Listing(f"style audit · {report['source']} · {report['battles']} battles", columns, rows),
         OutputFormat.table)
    console = stdout()
    for v in report["variants"]:
        for reason in v["reasons"]:
            console.print(f"  [red]{v['model']}[/]: {reason}")
    if not report["flagged"]:
        console.print("  [green]no variant's rank comes from style[/]")
    coefs = ", ".join(f"{c['feature']} {c['coef']:+.2f}" for c in report["style_coefficients"])
    console.print(f"  [dim]style coefficients (log-odds per SD): {coefs}[/]")


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

    with _audit_errors():
        registry = load_registry(config)
        registry.get(model)
        if reference:
            registry.get(reference)
        options = ContaminationOptions(
            shuffles=shuffles, controls=controls, seed=seed, reference=reference,
            probes=tuple(p.strip() for p in probes.split(",") if p.strip()),
        )
        options.validate()
        task_obj, dataset = _load_task(task, data, limit)
        report = asyncio.run(_contamination(registry, model, task_obj, dataset, options))
    _show(report, fmt, _print_contamination, _contamination_listing)
    _write_json(json_out, report)


async def _contamination(registry: Any, model: str, task: Any, dataset: Any, options: Any) -> dict:
    from glassboard.audit.contamination import audit_contamination, planned_generations
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        total = planned_generations(dataset.samples, options)
        with _progress(total, f"probing {model}") as advance:
            return await audit_contamination(hub, model, task, dataset.samples, options, advance)


def _print_contamination(report: dict) -> None:
    console = stdout()
    console.print(f"[bold]contamination[/] {report['model']['name']} on {report['task']} ({report['items']} items): "
                  f"{_verdict_style(report['verdict'])}")
    for key, probe in report["probes"].items():
        verdict = _verdict_style(probe["verdict"])
        if probe["verdict"] == "skipped":
            console.print(f"  {key}: {verdict} ({probe['reason']})")
        elif key == "ts_guessing":
            console.print(f"  TS-Guessing: exact match {probe['exact_match']}/{probe['items']} = {_fmt(probe['rate'])} "
                          f"[{_fmt(probe['ci_low'])}, {_fmt(probe['ci_high'])}], baseline {_fmt(probe['baseline'])}"
                          f"{'' if probe['reference_rate'] is None else ', reference ' + _fmt(probe['reference_rate'])}"
                          f": {verdict}")
        elif key == "shuffle":
            console.print(f"  option shuffle: accuracy {_fmt(probe['canonical_accuracy'])} canonical vs "
                          f"{_fmt(probe['shuffled_accuracy'])} shuffled, drop {_fmt(probe['drop'])} "
                          f"[{_fmt(probe['ci_low'])}, {_fmt(probe['ci_high'])}] (baseline 0): {verdict}")
        else:
            console.print(f"  Min-K%++: items {_fmt(probe['item_score'])} vs controls {_fmt(probe['baseline'])}, "
                          f"gap {_fmt(probe['difference'])} [{_fmt(probe['ci_low'])}, {_fmt(probe['ci_high'])}]: "
                          f"{verdict}")
    console.print("  [dim]caveat: membership-inference scores are weak evidence; 'no signal' is not proof of a "
                  "clean model (all caveats are in the JSON report)[/]")
    console.print(f"  [dim]{report['elapsed_s']} s, {report['cpu_s']} CPU s[/]")


def _contamination_listing(report: dict) -> Listing:
    columns = (Column("probe", key_column=True), Column("verdict"), Column("ci_low"), Column("ci_high"),
               Column("reason"))
    rows = [(key, probe["verdict"], probe.get("ci_low"), probe.get("ci_high"), probe.get("reason"))
            for key, probe in report["probes"].items()]
    return Listing(f"contamination · {report['model']['name']} · {report['task']}", columns, rows)


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

    with _audit_errors():
        registry = load_registry(config)
        for name in models:
            registry.get(name)
        options = ProvidersOptions(
            epochs=epochs, concurrency=concurrency, log_dir=log_dir, run_identity=identity,
            identity=IdentityOptions(prompts=load_prompts(None, identity_prompts), samples=identity_samples,
                                     max_tokens=identity_max_tokens, seed=seed, logprobs=False),
        )
        options.validate()
        task_obj, dataset = _load_task(task, data, limit)
        report = asyncio.run(_providers(registry, models, task_obj, dataset, options))
    _show(report, fmt, _print_providers, _providers_listing)
    _write_json(json_out, report)


async def _providers(registry: Any, models: list[str], task: Any, dataset: Any, options: Any) -> dict:
    from glassboard.audit.providers import audit_providers
    from glassboard.cli.console import eval_progress
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        per_pair = 2 * len(options.identity.prompts) * options.identity.samples if options.run_identity else 0
        with eval_progress(f"{task.name} per endpoint") as bar, \
                _progress(per_pair * (len(models) - 1), "identity tests") as advance:
            return await audit_providers(hub, models, task, dataset, options, advance, eval_progress=bar)


def _providers_listing(report: dict) -> Listing:
    columns = tuple(Column(key, key_column=key == "model") for key in (
        "model", "accuracy", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "unparsed_rate",
        "truncated_rate", "identity", "identity_p", "flagged"))
    rows = []
    for row in report["endpoints"]:
        paired = row.get("vs_reference") or {}
        identity = row.get("identity") or {}
        rows.append((row["model"], row["accuracy"], row["ci_low"], row["ci_high"], paired.get("diff"),
                     paired.get("ci_low"), paired.get("ci_high"), row["unparsed_rate"], row["truncated_rate"],
                     identity.get("verdict"), identity.get("p_value"), row["flagged"]))
    return Listing(f"providers · {report['task']}", columns, rows)


def _print_providers(report: dict) -> None:
    columns = (Column("endpoint", key_column=True), Column("accuracy [95% CI]"), Column("vs reference [95% CI]"),
               Column("unparsed"), Column("truncated"), Column("identity"), Column("flag"))
    rows = []
    for row in report["endpoints"]:
        paired = row.get("vs_reference")
        identity = row.get("identity")
        rows.append((
            row["model"],
            f"{_fmt(row['accuracy'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]",
            "reference" if row.get("reference") else (
                f"{paired['diff']:+.3f} [{_fmt(paired['ci_low'])}, {_fmt(paired['ci_high'])}]" if paired else "–"),
            _fmt(row["unparsed_rate"], 2),
            _fmt(row["truncated_rate"], 2),
            "" if identity is None else f"{identity['verdict']} (p={identity['p_value']:.3f})",
            "outlier" if row["flagged"] else "",
        ))
    title = f"providers · {report['task']} · {report['data']['items']} items · reference {report['reference']}"
    emit(Listing(title, columns, rows), OutputFormat.table)
    console = stdout()
    for row in report["endpoints"]:
        for reason in row["reasons"]:
            console.print(f"  [red]{row['model']}[/]: {reason}")
    if not report["flagged"]:
        console.print("  [green]no endpoint differs from the reference[/]")
    console.print(f"  [dim]{report['elapsed_s']} s, {report['cpu_s']} CPU s[/]")
