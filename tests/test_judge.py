"""Auto-arena: strict verdicts, scripted judges with known biases recovered by the audits, per-model length control,
the CLI end to end (battles that `rate` reads and `battles import` stores), and the bundled model as a real judge."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.cli import app
from glassboard.judge.run import JudgeRun, PromptsTask, judge_arena
from glassboard.judge.scripted import build_app
from glassboard.judge.summary import JudgeSummary, summarize
from glassboard.judge.verdict import JudgePrompt, parse_verdict
from glassboard.models import ModelHub, Registry
from glassboard.models.scripted_server import ScriptedServer
from judge_fixtures import scripted_registry, write_prompts

N_PROMPTS = 300
CONTESTANTS = {"base": ("q=0;words=40;fam=x", "p-base"), "m1": ("q=0.5;words=40;fam=acme", "acme"),
               "m2": ("q=-0.3;words=40;fam=y", "p-two")}
JUDGES = {
    "always-a": ("position=always", "p-judge"),
    "verbose": ("verbosity=1.0", "p-judge"),
    "positional": ("position=0.8", "p-judge"),
    "fair": ("noise=1", "p-judge"),
    "selfish": ("self=acme;boost=1.0", "acme"),
    "sloppy": ("bad=0.2", "p-judge"),
}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(app=build_app()) as running:
        yield running


@pytest.fixture(scope="module")
def world(server: ScriptedServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, Path, Path]:
    root = tmp_path_factory.mktemp("judge")
    registry = scripted_registry(root / "glassboard.toml", server.port, CONTESTANTS, JUDGES)
    return registry, write_prompts(root / "prompts.jsonl", N_PROMPTS), root


def run_judge(world: tuple[Registry, Path, Path], judge: str, models: tuple[str, ...] = ("m1", "m2"),
              human: list[dict] | None = None) -> tuple[JudgeRun, JudgeSummary]:
    registry, prompts, root = world
    samples = PromptsTask().load(prompts).samples

    async def go() -> JudgeRun:
        async with ModelHub(registry) as hub:
            return await judge_arena(hub, registry.get(judge), registry.get("base"), [registry.get(m) for m in models],
                                     samples, log_dir=root / "logs")

    run = asyncio.run(go())
    return run, summarize(run, human)


@pytest.mark.parametrize(("text", "expected"), [
    ("Reasoning.\n[[A>>B]]", "A>>B"), ("[[B>A]]", "B>A"), ("[[ A = B ]]", "A=B"), ("x [[B>>A]] y [[B>>A]]", "B>>A"),
    ("A is better", None), ("[[A>B]] ... on reflection [[B>A]]", None), ("[A>B]", None), ("", None),
    ("[[A>>>B]]", None), ("[[C>A]]", None),
])
def test_verdicts_parse_strictly(text: str, expected: str | None) -> None:
    assert parse_verdict(text) == expected


def test_judge_prompt_file_must_have_its_placeholders(tmp_path: Path) -> None:
    bad = tmp_path / "judge.txt"
    bad.write_text("Compare {answer_a} with {answer_b}.")
    with pytest.raises(Exception, match=r"judge.txt: missing placeholder\(s\) \{question\}"):
        JudgePrompt.load(bad)
    braces = JudgePrompt("Q: {question} A: {answer_a} B: {answer_b}")
    assert braces.render("q", "def f(): return {1: 2}", "b") == "Q: q A: def f(): return {1: 2} B: b"


def test_always_a_judge_position_bias_is_total(world) -> None:
    _, summary = run_judge(world, "always-a")
    audit = summary.audit
    assert audit.a_share.value == 1.0
    assert audit.flip_rate.value == 1.0 and audit.pairs_both_orders == 2 * N_PROMPTS
    assert audit.position_logodds.value > 3


def test_positional_judge_bias_is_recovered(world) -> None:
    _, summary = run_judge(world, "positional")
    gamma = summary.audit.position_logodds
    assert abs(gamma.value - 0.8) < 0.25 and gamma.ci_low < 0.8 < gamma.ci_high
    share = summary.audit.a_share.value
    assert abs(share - 1 / (1 + math.exp(-0.8))) < 0.05  # sigma(0.8) = 0.69 when the qualities are known
    verbosity = summary.audit.verbosity_logodds_per_doubling
    assert verbosity.ci_low < 0 < verbosity.ci_high


def test_verbose_judge_slope_is_recovered(world) -> None:
    _, summary = run_judge(world, "verbose")
    slope = summary.audit.verbosity_logodds_per_doubling
    assert abs(slope.value - 1.0) < 0.3 and slope.ci_low < 1.0 < slope.ci_high
    assert slope.ci_low > 0.3


def test_fair_judge_shows_no_bias(world) -> None:
    run, summary = run_judge(world, "fair")
    audit = summary.audit
    assert audit.a_share.ci_low < 0.5 < audit.a_share.ci_high
    assert audit.position_logodds.ci_low < 0 < audit.position_logodds.ci_high
    assert audit.verbosity_logodds_per_doubling.ci_low < 0 < audit.verbosity_logodds_per_doubling.ci_high
    by_model = {s.model: s for s in summary.scores}
    # m1 is better than the baseline (q +0.5: sigma = 0.62), m2 worse (q -0.3: 0.43)
    assert by_model["m1"].win_rate.ci_low < 0.622 < by_model["m1"].win_rate.ci_high
    assert by_model["m2"].win_rate.ci_low < 0.426 < by_model["m2"].win_rate.ci_high
    assert by_model["m1"].style_win_rate > 0.5 > by_model["m2"].style_win_rate
    assert len(run.battles()) == len(run.judgments) == 4 * N_PROMPTS


def test_length_controlled_score_ignores_other_models(world) -> None:
    _, alone = run_judge(world, "verbose", ("m1",))
    _, both = run_judge(world, "verbose", ("m1", "m2"))
    one = next(s for s in alone.scores if s.model == "m1")
    two = next(s for s in both.scores if s.model == "m1")
    assert one.lc_win_rate == two.lc_win_rate and one.win_rate == two.win_rate
    # ... while the joint style-controlled fit is allowed to move (it is documented as such)
    assert one.lc_win_rate.value is not None and one.lc_win_rate.ci_low is not None


def test_unparsable_verdicts_are_counted_and_excluded(world) -> None:
    run, summary = run_judge(world, "sloppy")
    bad = sum(1 for j in run.judgments if j.verdict is None)
    assert 0.12 * len(run.judgments) < bad < 0.28 * len(run.judgments)
    assert run.unparsable == bad == summary.audit.unparsable
    assert len(run.battles()) == len(run.judgments) - bad
    assert sum(s.unparsable for s in summary.scores) == bad
    assert sum(s.judgments for s in summary.scores) == len(run.judgments) - bad


def _human_votes(prompts: list[str], n: int = 3000) -> list[dict]:
    """Simulated people with the scripted truth: P(a beats b) = sigmoid(q_a - q_b), on the judged prompts."""
    quality = {"base": 0.0, "m1": 0.5, "m2": -0.3}
    rng = random.Random(7)
    rows = []
    for _ in range(n):
        a, b = rng.sample(sorted(quality), 2)
        text = rng.choice(prompts)
        p_a = 1 / (1 + math.exp(-(quality[a] - quality[b])))
        conv = [{"role": "user", "content": text}, {"role": "assistant", "content": "x"}]
        rows.append({"model_a": a, "model_b": b, "winner": "model_a" if rng.random() < p_a else "model_b",
                     "conversation_a": conv, "conversation_b": conv})
    return rows


def test_self_preferring_judge_is_caught_against_human_votes(world) -> None:
    prompts = [s.question for s in PromptsTask().load(world[1]).samples]
    _, summary = run_judge(world, "selfish", human=_human_votes(prompts))
    related = {r.model: r for r in summary.audit.related}
    assert set(related) == {"m1"} and related["m1"].reason == "same provider"
    excess = related["m1"].excess_logodds
    assert abs(excess.value - 1.0) < 0.4 and excess.ci_low > 0.3
    assert abs(related["m1"].vs_unrelated - 1.0) < 0.5


def test_fair_judge_agrees_with_humans(world) -> None:
    prompts = [s.question for s in PromptsTask().load(world[1]).samples]
    _, summary = run_judge(world, "fair", human=_human_votes(prompts))
    human = summary.audit.human
    assert human is not None and human.battles > 2000 and human.models == 3
    assert human.spearman.value == pytest.approx(1.0)
    assert human.agreement.value > 0.5 and human.agreement.ci_low is not None
    assert human.separability_judge == 1.0 and summary.audit.related == ()


def test_cli_judge_run_battles_rate_and_import(world, tmp_path: Path) -> None:
    registry, prompts, root = world
    runner = CliRunner()
    out, summary = tmp_path / "judge.jsonl", tmp_path / "summary.json"
    result = runner.invoke(app, ["judge", "run", "--judge", "fair", "--baseline", "base", "--models", "m1,m2",
                                 "--prompts", str(prompts), "--limit", "60", "--out", str(out), "--json", str(summary),
                                 "--config", str(root / "glassboard.toml"), "--log-dir", str(tmp_path / "logs"),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Judge audit" in result.output and "flip rate" in result.output
    doc = json.loads(summary.read_text())
    assert [m["model"] for m in doc["models"]] and doc["judgments"] == 240
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 240 - doc["unparsable"]
    first = rows[0]
    assert first["source"] == "judge" and first["judge_variant"] == doc["judge"]["id"]
    assert first["judge_prompt_hash"] == doc["judge_prompt"]["hash"] and first["position"] in ("model_first",
                                                                                              "baseline_first")
    rated = runner.invoke(app, ["rate", str(out), "--format", "json"])
    assert rated.exit_code == 0, rated.output
    assert {r["model"] for r in json.loads(rated.stdout)} == {"base", "m1", "m2"}
    styled = runner.invoke(app, ["audit", "style", str(out)])
    assert styled.exit_code == 0 and "783" not in styled.output and "m1" in styled.output, styled.output
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    imported = runner.invoke(app, ["battles", "import", str(out), "--db", db])
    assert imported.exit_code == 0, imported.output
    from glassboard.store.battles import Store

    store = Store(db)
    stored = list(store.voted(judged=True))
    assert len(stored) == len(rows) and all(r["source"] == "judge" for r in stored)
    assert list(store.voted()) == [] and store.judged_count() == len(rows)
    assert store.vote_count() == 0  # judge battles are not human votes
    store.close()


def test_cli_judge_run_names_a_bad_prompts_file(world, tmp_path: Path) -> None:
    registry, prompts, root = world
    bad = tmp_path / "prompts.jsonl"
    bad.write_text('{"question": "no prompt field"}\n')
    result = CliRunner().invoke(app, ["judge", "run", "--judge", "fair", "--baseline", "base", "--models", "m1",
                                      "--prompts", str(bad), "--config", str(root / "glassboard.toml"),
                                      "--log-dir", str(tmp_path / "logs"), "--no-progress"])
    assert result.exit_code == 2
    assert "prompts.jsonl" in result.output and "prompt" in result.output and "Traceback" not in result.output


def test_bundled_model_as_a_real_judge(tmp_path: Path) -> None:
    """SmolLM2-135M answers and judges 2 prompts (8 short generations): every verdict is parsed or counted."""
    config = tmp_path / "glassboard.toml"
    config.write_text("\n".join(
        f'[models.{name}]\nbackend = "llama_cpp"\nmodel = "bundled:smollm2-135m"\n'
        f"params = {{ temperature = 0.0, max_tokens = {tokens}, seed = 1 }}\n{extra}\n"
        for name, tokens, extra in (("small", 24, ""), ("terse", 12, 'system_prompt = "Answer in one sentence."'),
                                    ("judge", 32, ""))
    ))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "What is 2+2?"}\n{"prompt": "Name a colour."}\n')
    out, summary = tmp_path / "b.jsonl", tmp_path / "s.json"
    result = CliRunner().invoke(app, ["judge", "run", "--judge", "judge", "--baseline", "small", "--models", "terse",
                                      "--prompts", str(prompts), "--config", str(config), "--out", str(out),
                                      "--json", str(summary), "--log-dir", str(tmp_path / "logs"), "--no-progress",
                                      "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    doc = json.loads(summary.read_text())
    assert doc["judgments"] == 4 and doc["judge_errors"] == 0
    parsed = doc["judgments"] - doc["unparsable"]
    assert doc["models"][0]["judgments"] == parsed and doc["models"][0]["unparsable"] == doc["unparsable"]
    assert doc["audit"]["self_preference"][0]["reason"] == "same weights"
    written = out.read_text().splitlines() if out.exists() else []
    assert len(written) == parsed
