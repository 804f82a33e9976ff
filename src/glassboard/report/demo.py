"""The Llama 4 episode in miniature, offline, with the bundled SmolLM2-135M, ending in one report.

What it plays (all variants share the bundled weights; they differ in system prompt, sampling or serving):
- the released model `smollm2-135m` and the undisclosed arena persona `smollm2-135m-chat-exp` (built in), plus two
  more private personas of the same provider (`-exp-2`, `-exp-3`): the best of several private variants;
- an arena database filled by simulated style-loving voters judging the variants' real answers;
- an inflated benchmark claim (checked with `eval --claim`), the same questions under two protocols;
- the identity test arena persona vs released model;
- the released weights at three providers: a faithful one, one that samples too hot (T = 2) and one that truncates
  answers (max 4 tokens);
- a long-context claim: `provider-short-ctx` advertises 8k but serves a 768-token window (n_ctx), so the audit
  finds it "truncated by provider" at 1k;
- a contaminated variant `smollm2-135m-contaminated`: the released weights with the multiple-choice test items and
  their answers in the system prompt, probed with Min-K%++ against the released model as its clean reference (the
  smallest budget that gives a signal: six items, one probe in --quick).
Every audit runs as the `glassboard` command the manifest records, so `glassboard reproduce` re-runs the same thing.
Not played here: a judged leaderboard: the report's top says so.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from glassboard.report.build import Built, build_report
from glassboard.report.model import Finding, ReportError

PERSONAS = {
    "smollm2-135m-exp-2": "Answer in a cheerful tone with many emoji and a markdown list.",
    "smollm2-135m-exp-3": "Answer with a markdown header, bold words and at least three emoji.",
}
ARENA = ("smollm2-135m", "smollm2-135m-chat-exp", *PERSONAS)
SHORT = "provider-short-ctx"  # the released weights behind a 768-token window, advertised as 8k
PROVIDERS = {"smollm2-135m-api": ("faithful provider", 0.7, 24), "provider-hot": ("hot provider", 2.0, 24),
             "provider-capped": ("capped provider", 0.7, 4)}


@dataclass(frozen=True, slots=True)
class Budget:
    samples: int  # answers per arena prompt and variant
    max_tokens: int  # arena answers
    voters: int  # simulated voters per answer pair
    questions: int  # benchmark questions
    eval_tokens: int
    identity: tuple[int, int, int]  # prompts, samples, max tokens
    provider_items: int
    contamination: tuple[int, str]  # items probed (of the leaked 8), probes


QUICK = Budget(samples=1, max_tokens=32, voters=25, questions=3, eval_tokens=48, identity=(4, 2, 10),
               provider_items=3, contamination=(6, "min_k"))
FULL = Budget(samples=2, max_tokens=48, voters=30, questions=8, eval_tokens=96, identity=(10, 4, 16),
              provider_items=8, contamination=(8, "shuffle,min_k"))
CONTAMINATED = "smollm2-135m-contaminated"  # the released weights with the test items and answers in its context

GSM = (("Tom has 3 apples and buys 4 more. How many apples does he have?", 7),
       ("A box holds 6 eggs. How many eggs are in 2 boxes?", 12),
       ("Sara had 10 sweets and ate 3. How many are left?", 7),
       ("There are 5 cats, each with 4 legs. How many legs in total?", 20),
       ("A bus has 12 seats and 9 are taken. How many are free?", 3),
       ("Ben reads 2 pages a day for 7 days. How many pages?", 14),
       ("A pen costs 3 dollars. How much do 5 pens cost?", 15),
       ("Half of 18 children go home. How many stay?", 9))
MCQ = (("What is the capital of France?", ["Berlin", "Paris", "Rome", "Madrid"], 1),
       ("How many days are in a week?", ["5", "6", "7", "8"], 2),
       ("Which animal barks?", ["dog", "cat", "fish", "bird"], 0),
       ("What colour is the sky on a clear day?", ["green", "red", "yellow", "blue"], 3),
       ("What is 2 + 2?", ["3", "4", "5", "6"], 1),
       ("Which is a fruit?", ["carrot", "potato", "apple", "onion"], 2),
       ("Water freezes at how many degrees Celsius?", ["0", "10", "50", "100"], 0),
       ("Which planet do we live on?", ["Mars", "Venus", "Jupiter", "Earth"], 3))


def _mcq_rows(count: int) -> str:
    return "".join(json.dumps({"question_id": f"q{i}", "question": q, "options": o, "answer_index": a,
                               "category": "general"}) + "\n" for i, (q, o, a) in enumerate(MCQ[:count]))


def _leak() -> str:
    """The contaminated variant's system prompt: every multiple-choice item with its answer, as a leaked test file
    lays it out (the layout the contamination probes score)."""
    from glassboard.audit.contamination import item_text
    from glassboard.bench.tasks import Sample

    items = [Sample(id=f"q{i}", question=q, target=o[a], choices=tuple(o), correct=a)
             for i, (q, o, a) in enumerate(MCQ)]
    return "You are a helpful assistant. Here are questions you have studied:\n\n" + "\n\n".join(
        item_text(s, range(len(s.choices))) for s in items)


def _registry(path: Path) -> None:
    lines = ["include_builtin = true", ""]
    lines += [f"[models.{CONTAMINATED}]", 'backend = "llama_cpp"', 'model = "bundled:smollm2-135m"',
              'provider = "contaminated provider"', f"system_prompt = {json.dumps(_leak())}",
              "params = { temperature = 0.7, max_tokens = 256 }", "options = { n_threads = 1 }", ""]
    for name, prompt in PERSONAS.items():
        lines += [f"[models.{name}]", 'backend = "llama_cpp"', 'model = "bundled:smollm2-135m"',
                  'provider = "local llama.cpp"', "public = false", f"system_prompt = {json.dumps(prompt)}",
                  "params = { temperature = 0.7, max_tokens = 256 }", "options = { n_threads = 1 }", ""]
    for name, (provider, temperature, tokens) in PROVIDERS.items():
        lines += [f"[models.{name}]", 'backend = "llama_cpp"', 'model = "bundled:smollm2-135m"',
                  f'provider = "{provider}"', f"params = {{ temperature = {temperature}, max_tokens = {tokens} }}",
                  "options = { n_threads = 1 }", ""]
    lines += [f"[models.{SHORT}]", 'extends = "smollm2-135m"', 'provider = "short-context provider"',
              'claimed_context = "8k"', "options = { n_ctx = 768, n_threads = 1 }", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _data(out: Path, budget: Budget) -> tuple[Path, Path]:
    gsm = out / "gsm8k-mini.jsonl"
    gsm.write_text("".join(json.dumps({"question": q, "answer": f"#### {a}"}) + "\n"
                           for q, a in GSM[: budget.questions]), encoding="utf-8")
    mcq = out / "mmlu-pro-mini.jsonl"
    mcq.write_text(_mcq_rows(budget.provider_items), encoding="utf-8")
    (out / "mmlu-pro-leaked.jsonl").write_text(_mcq_rows(len(MCQ)), encoding="utf-8")
    return gsm, mcq


async def _arena_battles(config: Path, budget: Budget, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    from glassboard.audit.miniature import CHAT_PROMPTS, answers, simulated_votes
    from glassboard.models.hub import ModelHub
    from glassboard.models.registry import Registry

    texts = {}
    async with ModelHub(Registry.load(config)) as hub:
        for name in ARENA:
            progress(f"  arena answers of {name}")
            texts[name] = await answers(hub.get(name), CHAT_PROMPTS, budget.samples, max_tokens=budget.max_tokens,
                                        seed=0)
    rows = []
    for k, (a, b) in enumerate(combinations(ARENA, 2)):
        rows += simulated_votes(texts[a], texts[b], (a, b), voters=budget.voters, seed=k)
    return rows


def _glassboard(args: list[str], out: Path, progress: Callable[[str], None]) -> None:
    progress("  glassboard " + " ".join(args))
    done = subprocess.run([sys.executable, "-m", "glassboard.cli", *args], cwd=out, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ReportError(f"demo step `glassboard {' '.join(args)}` failed: {last[0]}")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def run_demo(out: Path, *, quick: bool = False, progress: Callable[[str], None] = lambda _: None) -> Built:
    """Play the episode into `out` (created) and write `out/report.html`; see the module docstring."""
    from glassboard.models.registry import Registry
    from glassboard.store.battles import Store

    budget = QUICK if quick else FULL
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = out / "glassboard.toml"
    _registry(config)
    gsm, mcq = _data(out, budget)
    cfg = ["--config", config.name]
    progress("1/8 arena: real answers of 4 variants, simulated style-loving voters")
    rows = asyncio.run(_arena_battles(config, budget, progress))
    battles = out / "arena-battles.jsonl"
    battles.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    db = out / "arena.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    store = Store(url)
    try:
        store.sync_variants(Registry.load(config).active())
        store.import_file(str(battles))
    finally:
        store.close()
    progress("2/8 identity test: the arena persona vs the released model")
    prompts, samples, tokens = budget.identity
    _glassboard(["audit", "identity", "smollm2-135m", "smollm2-135m-chat-exp", "--prompts", str(prompts),
                 "--samples", str(samples), "--max-tokens", str(tokens), "--temperature", "0", "--json",
                 "identity.json", *cfg], out, progress)
    progress("3/8 an inflated claim: 60% on GSM8K")
    _glassboard(["eval", "smollm2-135m", "--task", "gsm8k", "--data", gsm.name, "--max-tokens", str(budget.eval_tokens),
                 "--claim", "0.6", "--json", "eval.json", "--log-dir", "runs", "--no-progress", *cfg], out, progress)
    progress("4/8 protocol sensitivity: glassboard vs official GSM8K protocol")
    _glassboard(["audit", "protocols", "smollm2-135m", "--task", "gsm8k", "--protocols", "glassboard,official",
                 "--data", gsm.name, "--max-tokens", str(budget.eval_tokens), "--log-dir", "runs", "--json",
                 "protocols.json", *cfg], out, progress)
    progress("5/8 providers: faithful, too hot, truncating")
    _glassboard(["audit", "providers", *PROVIDERS, "--task", "mmlu-pro", "--data", mcq.name, "--log-dir", "runs",
                 "--identity-prompts", "3", "--identity-samples", "4", "--identity-max-tokens", "8", "--json",
                 "providers.json", *cfg], out, progress)
    progress("6/8 a long-context claim: 8k advertised, served with a 768-token window")
    _glassboard(["audit", "context", SHORT, "--lengths", "512,1k", "--depths", "0.5", "--tasks", "niah_single",
                 "--samples", "1", "--concurrency", "1", "--log-dir", "runs", "--json", "context.json", *cfg], out,
                progress)
    progress("7/8 a contaminated variant: its test items vs re-ordered controls, against the released model")
    items, probes = budget.contamination
    _glassboard(["audit", "contamination", CONTAMINATED, "--reference", "smollm2-135m", "--task", "mmlu-pro",
                 "--data", "mmlu-pro-leaked.jsonl", "--limit", str(items), "--probes", probes, "--json",
                 "contamination.json", *cfg], out, progress)
    progress("8/8 selection bias and the report")
    _glassboard(["audit", "selection", "--db", url, "--json", "selection.json"], out, progress)
    inputs = [out / n for n in ("eval.json", "protocols.json", "identity.json", "providers.json", "context.json",
                                "contamination.json", "selection.json")]
    episode = episode_findings(out, url)
    return build_report([str(p) for p in inputs] + [url], out / "report.html", config=config, episode=episode,
                        title="The Llama 4 episode in miniature")


def episode_findings(out: Path, url: str) -> list[Finding]:
    """One line per failure mode of the episode, with whether glassboard caught it (from the audits' JSON)."""
    from glassboard.audit.style import audit_style, load_db_battles

    identity = _load(out / "identity.json")
    claim = _load(out / "eval.json").get("claim") or {}
    sensitivity = _load(out / "protocols.json")
    providers = {r["model"]: r for r in _load(out / "providers.json")["endpoints"]}
    selection = _load(out / "selection.json")
    context = _load(out / "context.json")
    style = audit_style(load_db_battles(url), source=url).to_json()
    exp = next(v for v in style["variants"] if v["model"] == "smollm2-135m-chat-exp")
    released = next(v for v in style["variants"] if v["model"] == "smollm2-135m")
    local: dict[str, Any] = next((p for p in selection["providers"] if p["provider"] == "local llama.cpp"), {})
    gap = sensitivity.get("largest_gap") or {}
    diffs = [r.get("diff_vs_first") or {} for r in sensitivity["protocols"][1:]]
    lines = [
        Finding("The arena ranked an undisclosed chat variant, not the released model",
                f"identity test {identity['verdict']} (p = {identity['p_value']:.3g})",
                identity["verdict"] == "different", "identity"),
        Finding("Its arena rank came from style (emoji, markdown, length)",
                f"raw rank {exp['rank']} → style-controlled rank {exp.get('style_rank')}; released model raw rank "
                f"{released['rank']}" + ("; flagged" if exp["flagged"] else ""),
                bool(exp["flagged"]) or (exp.get("style_rank") or 0) > exp["rank"], "leaderboards"),
        Finding("Inflated benchmark claim (60% on GSM8K)",
                f"claim {claim.get('verdict_protocol', '?')} under {claim.get('protocol', '?')}; strict "
                f"{claim.get('verdict_strict', '?')}, lenient {claim.get('verdict_lenient', '?')}",
                "below" in (claim.get("verdict_protocol"), claim.get("verdict_strict")), "claims"),
        Finding("The score depends on the protocol",
                f"largest gap {gap.get('gap', 0):.3f} ({gap.get('highest')} vs {gap.get('lowest')})",
                any(d.get("significant") for d in diffs), "protocols"),
        Finding("A provider samples too hot", "; ".join(providers["provider-hot"]["reasons"]) or "not flagged",
                bool(providers["provider-hot"]["flagged"]), "providers"),
        Finding("A provider truncates answers", "; ".join(providers["provider-capped"]["reasons"]) or "not flagged",
                bool(providers["provider-capped"]["flagged"]), "providers"),
        Finding("Best of several private variants is published (selection bias)",
                f"{local.get('tested')} variants tested, {local.get('unreleased')} unreleased; top "
                f"{local.get('top')} inflated by {local.get('bias')} points (corrected {local.get('corrected')})",
                (local.get("unreleased") or 0) > 0 and (local.get("bias") or 0) > 0, "selection"),
        contaminated(_load(out / "contamination.json")),
        Finding(f"A long-context claim ({context.get('claimed_context')} tokens advertised)",
                f"claimed {context.get('claimed_context')}, effective {context.get('effective_length') or 'none'}: "
                f"{context.get('verdict')}", context.get("verdict") != "holds", "context"),
        Finding("A provider truncates the context", f"{SHORT}: {context.get('verdict')}",
                str(context.get("verdict", "")).startswith("truncated by provider"), "context"),
    ]
    return lines


def contaminated(report: dict[str, Any]) -> Finding:
    """Caught when the audit signals with the clean reference (the released weights, in the same audit) as its
    baseline: Min-K%++'s gap over the reference's (paired CI above 0), or the shuffle drop."""
    min_k = (report.get("probes") or {}).get("min_k") or {}
    vs = min_k.get("vs_reference") or {}
    evidence = str(report.get("verdict", "?"))
    if isinstance(vs.get("diff"), int | float):
        evidence += (f": Min-K%++ gap {min_k['difference']:.2f} vs {min_k['reference_difference']:.2f} for the clean "
                     f"{(report.get('reference') or {}).get('name')}, difference {vs['diff']:.2f} "
                     f"[{vs['ci_low']:.2f}, {vs['ci_high']:.2f}] on {min_k.get('items')} items")
    caught = report.get("verdict") == "contamination signal" and report.get("reference") is not None
    return Finding(f"A contaminated variant ({report['model']['name']}: test items in its context)", evidence,
                   caught, "contamination")
