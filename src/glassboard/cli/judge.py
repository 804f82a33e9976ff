"""CLI commands of glassboard.judge: `glassboard judge run` (auto-arena) and `glassboard battles categorize`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from glassboard.cli.console import ConfigOption, clean_errors, eval_progress, fail, load_registry, stderr
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit

if TYPE_CHECKING:
    from glassboard.judge.categorize import Classifier
    from glassboard.judge.summary import JudgeSummary


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app (`battles categorize` joins the arena's `battles` group)."""
    judge = typer.Typer(help="Model-judged arena (auto-arena) with audited judges.", no_args_is_help=True)
    judge.command("run")(run_command)
    app.add_typer(judge, name="judge")


def categorize_command(
    path: Annotated[Path | None, typer.Argument(help="Battle file (.jsonl or .parquet, LMArena schema).")] = None,
    db: Annotated[str | None, typer.Option(help="Tag the battles of this arena database in place.")] = None,
    classifier: Annotated[str, typer.Option(help="'heuristic' (documented rules, no model) or a variant name.")] = (
        "heuristic"),
    out: Annotated[Path | None, typer.Option(help="Where to write the tagged battles (same format as PATH).")] = None,
    log_dir: Annotated[Path, typer.Option(help="Run logs of a model classifier.")] = Path("glassboard-runs"),
    config: ConfigOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Tag each battle's first prompt with LMArena-style categories (multi-label; classifier id and prompt hash
    stored in `category_tag`), for `rate --category` and the arena's per-category leaderboard."""
    with clean_errors():
        from glassboard.judge.categories import classify
        from glassboard.judge.categorize import categorize_file, categorize_store

        if (path is None) == (db is None):
            fail("give a battle FILE or --db URL (one of them)")
        if path is not None and out is None:
            fail("--out is required for a file (the input is never overwritten)")
        tagger: Classifier = classify
        if classifier != "heuristic":
            from glassboard.judge.classify_model import model_classifier

            registry = load_registry(config)
            tagger = model_classifier(registry, registry.get(classifier), log_dir)
        if path is not None:
            assert out is not None
            result = categorize_file(path, out, tagger)
        else:
            from glassboard.store.battles import Store

            store = Store(str(db))
            try:
                result = categorize_store(store, tagger)
            finally:
                store.close()
        columns = (Column("category", key_column=True), Column("battles", justify="right"))
        notes = [f"{result.battles} battles tagged by {classifier}"
                 + (f"; {result.without_prompt} without a user prompt" if result.without_prompt else "")
                 + (f"; {result.unparsable} unparsable classifier answers" if result.unparsable else "")]
        emit(Listing("Prompt categories", columns, sorted(result.counts.items(), key=lambda kv: -kv[1]), notes), fmt)


def run_command(
    judge: Annotated[str, typer.Option(help="The judge: a variant name or alias (see `glassboard models`).")],
    baseline: Annotated[str, typer.Option(help="Every model is judged against this variant's answers.")],
    models: Annotated[str, typer.Option(help="Comma-separated variant names to judge.")],
    prompts: Annotated[Path, typer.Option(help="JSONL/CSV/Parquet file with a `prompt` field (optional `id`).")],
    swap: Annotated[bool, typer.Option("--swap/--no-swap", help="Judge both orders (recommended: position "
                                                                "bias cancels and is measured).")] = True,
    judge_prompt: Annotated[Path | None, typer.Option(help="Your own judge prompt with {question}, {answer_a} "
                                                           "and {answer_b} (a new prompt hash).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N prompts.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the judge battles (LMArena schema) to this "
                                                  ".jsonl/.json/.parquet file.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the summary and audit as JSON here.")] = None,
    human: Annotated[Path | None, typer.Option(help="Human arena votes (a battle file) for agreement, Spearman "
                                                    "and self-preference.")] = None,
    db: Annotated[str | None, typer.Option(help="Read the human votes from this arena database instead.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight per variant.")] = 16,
    log_dir: Annotated[Path, typer.Option(help="Where the per-sample run logs live (re-running resumes).")] = Path(
        "glassboard-runs"),
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    config: ConfigOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar for the judging.")] = True,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Answer PROMPTS with every model and the baseline, judge each answer against the baseline's (both orders),
    and print win rates (raw, length-controlled, style-controlled) with 95% CIs and the judge's audit."""
    with clean_errors():
        from glassboard.judge.run import PromptsTask
        from glassboard.judge.summary import summarize
        from glassboard.judge.verdict import JudgeError, JudgePrompt

        if human is not None and db is not None:
            fail("give human votes with --human FILE or --db URL, not both")
        registry = load_registry(config)
        names = [n.strip() for n in models.split(",") if n.strip()]
        if not names:
            raise JudgeError("--models names no model")
        judge_v, base_v = registry.get(judge), registry.get(baseline)
        model_vs = [registry.get(n) for n in names]
        template = JudgePrompt.load(judge_prompt)
        dataset = PromptsTask().load(prompts, limit)
        human_rows = _human_votes(human, db) if human is not None or db is not None else None
        run = asyncio.run(_run(registry, judge_v, base_v, model_vs, dataset.samples, template, swap, concurrency,
                               log_dir, progress))
        summary = summarize(run, human_rows, seed)
        if out is not None:
            from glassboard.rating.battles import write_battles

            written = write_battles(run.battles(), out)
            stderr().print(f"wrote {written} judge battles to {out}", highlight=False, soft_wrap=True)
        document = {**summary.to_json(), "run": _how(prompts, limit, swap, judge_prompt, human, db, seed)}
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        emit([_models_listing(summary), _audit_listing(summary)], fmt,
             document=document if fmt is OutputFormat.json else None)
        if run.stopped:
            fail(f"judge endpoint down, judging stopped early: {run.stopped}; re-run the same command to resume")


async def _run(registry: Any, judge: Any, baseline: Any, models: list[Any], samples: Any, template: Any, swap: bool,
               concurrency: int, log_dir: Path, progress: bool) -> Any:
    from glassboard.judge.run import judge_arena
    from glassboard.models.hub import ModelHub

    async with ModelHub(registry) as hub:
        with eval_progress(f"judging · {judge.name}", enabled=progress) as bar:
            return await judge_arena(hub, judge, baseline, models, samples, prompt=template, swap=swap,
                                     concurrency=concurrency, log_dir=log_dir, progress=bar)


def _how(prompts: Path, limit: int | None, swap: bool, judge_prompt: Path | None, human: Path | None,
         db: str | None, seed: int) -> dict[str, Any]:
    """How this summary was made, for `glassboard report` to rebuild the command (files with their sha256)."""
    import hashlib

    def file(path: Path | None) -> dict[str, str] | None:
        return None if path is None else {"source": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}

    return {"prompts": file(prompts), "limit": limit, "swap": swap, "judge_prompt": file(judge_prompt),
            "human": file(human), "db": db, "seed": seed}


def _human_votes(path: Path | None, db: str | None) -> list[dict[str, Any]]:
    if path is not None:
        from glassboard.rating.battles import load_battles

        return [b.to_dict() for b in load_battles(path, on_invalid="skip")]
    from glassboard.store.battles import Store

    store = Store(str(db), migrate=False)
    try:
        return [row for row in store.voted() if row.get("source") != "judge"]
    finally:
        store.close()


def _pct(value: Any) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _ci(est: dict[str, Any] | None, pct: bool = True) -> str:
    if not est or est.get("ci_low") is None:
        return "not determined"
    show = _pct if pct else (lambda v: f"{v:.2f}")
    return f"{show(est['ci_low'])} – {show(est['ci_high'])}"


def _models_listing(summary: JudgeSummary) -> Listing:
    base = summary.run.baseline.name
    columns = (Column("model", key_column=True), Column("win_rate", "win rate", _pct, "right"),
               Column("win_ci", "95% CI"), Column("lc_win_rate", "length-controlled", _pct, "right"),
               Column("lc_ci", "95% CI"), Column("style_win_rate", "style-controlled", _pct, "right"),
               Column("judgments", justify="right"), Column("unparsable", justify="right"))
    rows = []
    for s in (m.to_json() for m in summary.scores):
        rows.append((s["model"], s["win_rate"]["value"], _ci(s["win_rate"]), s["lc_win_rate"]["value"],
                     _ci(s["lc_win_rate"]), s["style_win_rate"], s["judgments"], s["unparsable"]))
    notes = [f"vs baseline {base}; judge {summary.run.judge.name} ({summary.run.judge.id}), prompt "
             f"{summary.run.prompt.hash}; {summary.run.unparsable} unparsable verdict(s) excluded", *summary.notes]
    return Listing(f"Auto-arena: win rate against {base}", columns, rows, notes)


def _audit_listing(summary: JudgeSummary) -> Listing:
    a = summary.audit.to_json()
    columns = (Column("measure", key_column=True), Column("value", justify="right"), Column("ci", "95% CI"),
               Column("meaning"))
    pos, verb = a["position"], a["verbosity"]["logodds_per_doubling"]
    rows: list[tuple[Any, ...]] = [
        ("unparsable rate", _pct(a["unparsable_rate"]), "", f"{a['unparsable']} of {a['judgments']} verdicts"),
        ("position: A preferred", _pct(pos["a_share"]["value"]), _ci(pos["a_share"]), "decisive verdicts; 50% = fair"),
        ("position: flip rate", _pct(pos["flip_rate"]["value"]), _ci(pos["flip_rate"]),
         f"outcome changes when the order swaps ({pos['pairs_both_orders']} pairs)"),
        ("position: log-odds", _num(pos["logodds"]["value"]), _ci(pos["logodds"], False), "bonus for slot A; 0 = fair"),
        ("verbosity: log-odds", _num(verb["value"]), _ci(verb, False), "bonus per doubling of length; 0 = fair"),
    ]
    for r in a["self_preference"]:
        ex = r["excess_logodds"]
        rows.append((f"self-preference: {r['model']}", _num(ex["value"]) if ex else "not measured",
                     _ci(ex, False) if ex else "", f"{r['reason']}; judge minus human log-odds vs baseline"))
    h = a["human"]
    if h is not None:
        rows += [("human agreement", _pct(h["agreement"]["value"]), _ci(h["agreement"]),
                  f"{h['judge_decisive']} of {h['battles']} human votes on judged prompts"),
                 ("Spearman vs human board", _num(h["spearman"]["value"]), _ci(h["spearman"], False),
                  f"{h['models']} models"),
                 ("separability (judge / human)", f"{_pct(h['separability_judge'])} / {_pct(h['separability_human'])}",
                  "", "model pairs whose CIs do not overlap")]
    return Listing("Judge audit", columns, rows, list(a["notes"]))


def _num(value: Any) -> str:
    return "" if value is None else f"{value:+.2f}"
