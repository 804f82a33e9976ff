"""Prompt categories: the heuristic on a table of real-world prompt shapes, files (JSONL, Parquet) and the database
tagged with classifier id and prompt hash, `rate --category`, and a model classifier's strict parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.cli import app
from glassboard.judge.categories import HEURISTIC_ID, heuristic, prompt_hash
from glassboard.judge.classify_model import parse_labels

CASES = [
    ("How do I reverse a list in Python?", {"coding"}),
    ("```js\nconst x = [1,2].map(a => a*2)\n```\nwhy does this print undefined?", {"coding"}),
    ("Traceback (most recent call last):\n  File \"a.py\", line 3\nKeyError: 'id'", {"coding"}),
    ("SELECT name, count(*) FROM users GROUP BY name -- too slow on 10M rows, ideas?", {"coding"}),
    ("Solve for x: 3x + 5 = 20", {"math"}),
    ("What is the integral of $\\frac{1}{x}$?", {"math"}),
    ("What's the probability of two sixes with two dice?", {"math"}),
    ("Write a haiku about autumn leaves.", {"creative_writing"}),
    ("Tell me a short story about a dragon who is afraid of fire", {"creative_writing"}),
    ("Let's roleplay: you are a pirate captain.", {"creative_writing"}),
    ("Explain photosynthesis in exactly three sentences.", {"instruction_following"}),
    ("List five fruits. Respond only with the names, in JSON.", {"instruction_following"}),
    ("What is the capital of France?", set()),
    ("hi", set()),
    ("Bonjour, comment ça va ?", set()),
    ("I need to design an algorithm for our company to optimize delivery routes.\n1. What data do I need?\n"
     "2. How do I implement it in Python step by step?", {"coding", "hard_prompt"}),
]


@pytest.mark.parametrize(("prompt", "labels"), CASES)
def test_heuristic_labels_real_world_prompt_shapes(prompt: str, labels: set[str]) -> None:
    tags = heuristic(prompt)
    assert set(tags.labels) == labels
    assert tags.classifier == HEURISTIC_ID and tags.prompt_hash == prompt_hash(prompt)


def test_longer_query_and_multi_turn() -> None:
    assert "longer_query" in heuristic("Please summarise this report. " * 80).labels
    assert heuristic("hello", user_turns=2).labels == ("multi_turn",)
    hard = heuristic("I need to design an algorithm for our company to optimize delivery routes.\n1. What data do I "
                     "need?\n2. How do I implement it in Python step by step?")
    assert {"specificity", "domain_knowledge", "complexity", "problem_solving", "real_world"} <= set(hard.criteria)


def _battle(prompt: str, winner: str, a: str, b: str, turns: int = 1) -> dict:
    conv = []
    for _ in range(turns):
        conv += [{"role": "user", "content": prompt}, {"role": "assistant", "content": "answer"}]
    return {"model_a": a, "model_b": b, "winner": winner, "conversation_a": conv, "conversation_b": conv}


BATTLES = [_battle("Write a Python function to merge two sorted lists", "model_a", "coder", "poet")] * 6 + \
    [_battle("Write a poem about the sea", "model_a", "poet", "coder")] * 6 + \
    [_battle("Write a poem about rain", "model_b", "coder", "poet", turns=2)] * 2


def test_categorize_jsonl_and_parquet_then_rate_by_category(tmp_path: Path) -> None:
    from glassboard.rating.battles import write_battles

    runner = CliRunner()
    for suffix in ("jsonl", "parquet"):
        src, out = tmp_path / f"b.{suffix}", tmp_path / f"tagged.{suffix}"
        write_battles(BATTLES, src)
        result = runner.invoke(app, ["battles", "categorize", str(src), "--out", str(out), "--format", "json"])
        assert result.exit_code == 0, result.output
        counts = {r["category"]: r["battles"] for r in json.loads(result.stdout)}
        assert counts == {"coding": 6, "creative_writing": 8, "multi_turn": 2}
        rated = runner.invoke(app, ["rate", str(out), "--category", "coding", "--no-style-control", "--format",
                                    "json"])
        assert rated.exit_code == 0, rated.output
        assert {r["model"]: r["votes"] for r in json.loads(rated.stdout)} == {"coder": 6, "poet": 6}
    rows = [json.loads(line) for line in (tmp_path / "tagged.jsonl").read_text().splitlines()]
    import pyarrow.parquet as pq

    columnar = pq.read_table(tmp_path / "tagged.parquet").select(["category", "category_tag"]).to_pylist()
    assert [r["category"] for r in columnar] == [r["category"] for r in rows]  # the vectorised path agrees
    assert [r["category_tag"]["prompt_hash"] for r in columnar] == [r["category_tag"]["prompt_hash"] for r in rows]
    assert rows[0]["category_tag"]["classifier"] == HEURISTIC_ID
    assert rows[0]["category_tag"]["prompt_hash"] == prompt_hash("Write a Python function to merge two sorted lists")


def test_categorize_database_in_place(tmp_path: Path) -> None:
    from glassboard.rating.battles import write_battles
    from glassboard.store.battles import Store

    src = tmp_path / "b.jsonl"
    write_battles(BATTLES, src)
    db = f"sqlite:///{tmp_path / 'a.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["battles", "import", str(src), "--db", db]).exit_code == 0
    result = runner.invoke(app, ["battles", "categorize", "--db", db])
    assert result.exit_code == 0, result.output
    store = Store(db)
    assert store.category_counts() == {"coding": 6, "creative_writing": 8, "multi_turn": 2}
    row = next(iter(store.voted()))
    assert row["category_tag"]["classifier"] == HEURISTIC_ID and row["category"]
    store.close()


def test_categorize_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model_a": "x"}\nnot json\n')
    result = CliRunner().invoke(app, ["battles", "categorize", str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "bad.jsonl line 2: not JSON" in result.output
    result = CliRunner().invoke(app, ["battles", "categorize", str(bad)])
    assert result.exit_code == 2 and "--out is required" in result.output


@pytest.mark.parametrize(("text", "labels"), [
    ("Categories: coding, math", ("coding", "math")), ("categories: none", ()),
    ("Categories: Creative Writing", ("creative_writing",)), ("Categories: cooking", None), ("coding", None),
    ("Categories: math\nCategories: coding", None), ("", None),
])
def test_model_classifier_answers_parse_strictly(text: str, labels: tuple[str, ...] | None) -> None:
    assert parse_labels(text) == labels
