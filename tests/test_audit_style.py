"""`glassboard audit style`: synthetic battles with a style-only winner, the arena database, errors, and the
Llama 4 miniature (real answers from the bundled model, simulated style-loving voters)."""

from __future__ import annotations

import asyncio
import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.audit.miniature import miniature_battles, simulated_votes, style_score
from glassboard.audit.style import audit_style, style_flags
from glassboard.cli import app
from glassboard.models import ModelHub, Registry, builtin_variants
from glassboard.rating.battles import write_battles
from glassboard.schema import LeaderboardRow

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that Rich does not wrap table cells

# Three plain models with real strength differences and one weak model whose answers are long and emoji-heavy.
STRENGTH = {"solid-large": 0.6, "solid-medium": 0.3, "solid-small": 0.0, "emoji-bot": -0.3}
STYLE = {  # mean tokens, headers, list items, bold spans, emoji per answer
    "solid-large": (300, 1, 2, 1, 0.1), "solid-medium": (300, 1, 2, 1, 0.1), "solid-small": (300, 1, 2, 1, 0.1),
    "emoji-bot": (700, 4, 8, 6, 12.0),
}


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are small enough
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def synthetic_rows(n: int, style_effect: float, seed: int = 1) -> list[dict]:
    """Battles whose votes follow BT on STRENGTH plus `style_effect` x (normalised emoji + length difference)."""
    rng = random.Random(seed)
    names = list(STRENGTH)
    rows = []
    for _ in range(n):
        a, b = rng.sample(names, 2)
        counts = {}
        for side, name in (("a", a), ("b", b)):
            tokens, headers, lists, bold, emoji = STYLE[name]
            counts[side] = (max(1, round(tokens * math.exp(rng.gauss(0, 0.3)))), _poisson(rng, headers),
                            _poisson(rng, lists), _poisson(rng, bold), _poisson(rng, emoji))
        diff = sum((counts["a"][k] - counts["b"][k]) / (counts["a"][k] + counts["b"][k] + 1) for k in (0, 4))
        p = 1 / (1 + math.exp(-(STRENGTH[a] - STRENGTH[b] + style_effect * diff)))
        meta = {}
        for side in "ab":
            tokens, headers, lists, bold, emoji = counts[side]
            meta.update({f"sum_assistant_{side}_tokens": tokens, f"header_count_{side}": {"h2": headers},
                         f"list_count_{side}": {"ordered": 0, "unordered": lists},
                         f"bold_count_{side}": {"**": bold, "__": 0}, f"emoji_count_{side}": emoji})
        rows.append({"model_a": a, "model_b": b, "winner": "model_a" if rng.random() < p else "model_b",
                     "conv_metadata": meta})
    return rows


@pytest.fixture(scope="module")
def style_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("style") / "battles.jsonl"
    write_battles(synthetic_rows(3000, style_effect=2.0), path)
    return path


def test_cli_flags_the_variant_that_wins_by_style_alone(style_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "style.json"
    result = runner.invoke(app, ["audit", "style", str(style_file), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "rank from style" in result.output and "emoji-bot" in result.output
    report = json.loads(out.read_text())
    assert report["flagged"] == ["emoji-bot"]
    rows = {v["model"]: v for v in report["variants"]}
    bot = rows["emoji-bot"]
    assert bot["rank"] == 1 and bot["style_rank"] >= 3  # first on votes, near the bottom once style is controlled
    assert bot["emoji"] > 10 and rows["solid-large"]["emoji"] < 0.5
    assert rows["solid-large"]["style_rank"] == 1 and not rows["solid-large"]["flagged"]
    emoji_coef = next(c for c in report["style_coefficients"] if c["feature"] == "emoji")
    assert emoji_coef["ci_low"] > 0


def test_no_flag_when_votes_ignore_style(tmp_path: Path) -> None:
    rows = synthetic_rows(3000, style_effect=0.0, seed=2)
    report = audit_style(rows, source="no-style")
    assert report.flagged == []
    ranks = {v.model: (v.rank, v.style_rank) for v in report.variants}
    assert ranks["solid-large"] == (1, 1) and ranks["emoji-bot"][0] == 4


def test_style_flags_rule_on_hand_made_rows() -> None:
    def row(model: str, rating: float, ci: float, style: float, s_ci: float, rank: int, s_rank: int
            ) -> LeaderboardRow:
        return LeaderboardRow.from_json({
            "model": model, "rating": rating, "ci_low": rating - ci, "ci_high": rating + ci, "rank": rank,
            "style_rating": style, "style_ci_low": style - s_ci, "style_ci_high": style + s_ci, "style_rank": s_rank})

    # x leads y by 100 raw (significant); style control leaves +20 (<= 25%) with overlapping intervals: flagged.
    flags = style_flags([row("x", 1050, 20, 1010, 40, 1, 1), row("y", 950, 20, 990, 40, 2, 2)])
    assert len(flags["x"]) == 1 and "no longer significant" in flags["x"][0] and not flags["y"]
    # Style control keeps +80 of a +100 lead: the lead is substance, not style.
    assert style_flags([row("x", 1050, 20, 1040, 30, 1, 1), row("y", 950, 20, 960, 30, 2, 2)]) == {"x": [], "y": []}
    # x's own rating falls with disjoint intervals and it loses its place: flagged (and the lead is reversed).
    flags = style_flags([row("x", 1100, 20, 1000, 20, 1, 2), row("y", 1000, 20, 1050, 20, 2, 1)])
    assert "falls from 1100" in flags["x"][0] and "significantly reversed" in flags["x"][1] and not flags["y"]
    # A fall of two ordinal places inside overlapping intervals is noise, not a flag.
    flags = style_flags([row("x", 1010, 30, 990, 30, 1, 3), row("y", 1000, 30, 1000, 30, 2, 2),
                         row("z", 990, 30, 1010, 30, 3, 1)])
    assert flags == {"x": [], "y": [], "z": []}


def test_db_source_matches_the_file(style_file: Path, tmp_path: Path) -> None:
    from glassboard.store.battles import open_store

    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = open_store(url)
    try:
        assert store.import_file(str(style_file)) == (3000, 0)
    finally:
        store.close()
    out = tmp_path / "db.json"
    result = runner.invoke(app, ["audit", "style", "--db", url, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["flagged"] == ["emoji-bot"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl"], "battle file not found"),
        ([], "either a battle FILE or --db"),
        (["--db", "sqlite:///nowhere/arena.db"], "arena database not found"),
        (["BAD"], "row 2"),
    ],
)
def test_style_errors_are_one_red_line(args: list[str], message: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"model_a": "x", "model_b": "y", "winner": "model_a"}) + "\n"
                   + json.dumps({"model_a": "x", "model_b": "y", "winner": "nobody"}) + "\n")
    args = [str(bad) if a == "BAD" else str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
    result = runner.invoke(app, ["audit", "style", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_simulated_voters_follow_style() -> None:
    plain = [("hi", "Hello. How can I help?")] * 3
    fancy = [("hi", "Hello! 🎉🚀✨ **Welcome!**")] * 3
    assert style_score(fancy[0][1]) > style_score(plain[0][1]) + 3
    battles = simulated_votes(plain, fancy, ("plain", "fancy"), voters=50, seed=3)
    assert len(battles) == 150
    fancy_wins = sum((b["winner"] == "model_a") == (b["model_a"] == "fancy") for b in battles)
    assert fancy_wins / len(battles) > 0.85
    assert {b["model_a"] for b in battles} == {"plain", "fancy"}  # sides are randomised


@pytest.mark.filterwarnings("ignore:style feature:glassboard.rating.errors.RatingWarning")  # all-zero markdown counts
def test_llama4_miniature_is_caught_by_the_style_audit(tmp_path: Path) -> None:
    """Real answers of the released model and its chat persona; simulated voters who like emoji and length."""
    registry = Registry([replace(v, options=(("n_threads", 1),)) for v in builtin_variants()])

    async def generate() -> list[dict]:
        async with ModelHub(registry) as hub:
            return await miniature_battles(hub, samples=2, max_tokens=32, voters=20, seed=0)

    battles = asyncio.run(generate())
    path = tmp_path / "miniature.jsonl"
    write_battles(battles, path)
    out = tmp_path / "miniature.json"
    result = runner.invoke(app, ["audit", "style", str(path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = {v["model"]: v for v in report["variants"]}
    assert report["flagged"] == ["smollm2-135m-chat-exp"]
    assert rows["smollm2-135m-chat-exp"]["emoji"] > rows["smollm2-135m"]["emoji"]
    assert rows["smollm2-135m-chat-exp"]["rank"] == 1


def test_three_votes_audit_raw_only_and_say_why(tmp_path: Path) -> None:
    """Too few votes to determine style control: the audit shows raw ratings only, says so, flags nothing, and
    never prints a traceback or a made-up style-controlled interval (it crashed on the missing values before)."""
    def turn(text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": "hi"}, {"role": "assistant", "content": text}]

    rows = [
        {"model_a": "a", "model_b": "b", "winner": "model_a", "conversation_a": turn("hello **there**"),
         "conversation_b": turn("yo")},
        {"model_a": "a", "model_b": "b", "winner": "model_b", "conversation_a": turn("hello"),
         "conversation_b": turn("yo yo yo")},
        {"model_a": "b", "model_b": "a", "winner": "model_a", "conversation_a": turn("x"),
         "conversation_b": turn("hello 😀")},
    ]
    path = tmp_path / "three.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = audit_style(path)
    assert report.style_identified is False and report.flagged == []
    assert all(v.style_rating is None for v in report.variants)
    assert any("raw rating only" in w for w in report.warnings)
    result = runner.invoke(app, ["audit", "style", str(path)])
    assert result.exit_code == 0, result.output
    assert "not determined by these votes: raw ratings only" in result.output
    assert "Traceback" not in result.output and "None" not in result.output
