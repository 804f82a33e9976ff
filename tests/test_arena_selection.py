"""The transparency page's selection-bias and sampling-fairness summary (issue 16) on a real store: per provider the
variants tested, the best-of-N bias and corrected rating (the numbers `audit selection --db` gives), the battle
share against the intended share with an over-sampled provider flagged; cached by vote count, and unchanged while
a battle can still be voted on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from arena_fixtures import (  # noqa: F401 - fixtures
    arena_client,
    db_url_fixture,
    pg_database_fixture,
    scripted_variant,
    settings_for,
    wait_status,
)
from glassboard.arena.fairness import SelectionSummary
from glassboard.cli import app
from glassboard.models import Registry
from glassboard.store.battles import Store

# Three variants of "acme" (one never released), one each of "solo" and "lone", and "big", which the planted
# sampler puts into half of all battles. Every model is equally strong: votes are coin flips.
PROVIDERS = {"acme-1": ("acme", True), "acme-2": ("acme", True), "acme-3": ("acme", False),
             "solo-1": ("solo", True), "lone-1": ("lone", True), "big-1": ("big", True)}


def planted_battles(n: int = 900, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    models = list(PROVIDERS)
    rows = []
    for i in range(n):
        if rng.random() < 0.5:
            a, b = "big-1", str(rng.choice([m for m in models if m != "big-1"]))
        else:
            a, b = (str(m) for m in rng.choice(models, 2, replace=False))
        winner = ("model_a", "model_b", "tie")[int(rng.choice(3, p=[0.45, 0.45, 0.1]))]
        rows.append({"model_a": a, "model_b": b, "winner": winner, "battle_id": f"planted-{i}",
                     "tstamp": 1.7e9 + i, "voter": f"v{i % 300}"})
    return rows


def registry(server) -> Registry:
    return Registry([scripted_variant(server, name, "ok", provider=provider, public=public)
                     for name, (provider, public) in PROVIDERS.items()])


async def test_transparency_shows_selection_bias_and_flags_the_oversampled_provider(
        db_url: str, scripted_server, tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in planted_battles()))
    store = Store(db_url)
    store.import_file(str(path))
    store.close()
    async with arena_client(settings_for(db_url, registry(scripted_server))) as client:
        data = (await client.http.get("/api/transparency")).json()
        selection = data["selection"]
        assert selection["message"] is None and selection["votes"] == 900
        rows = {p["provider"]: p for p in selection["providers"]}
        assert set(rows) == {"acme", "solo", "lone", "big"}
        acme = rows["acme"]
        assert (acme["tested"], acme["public"], acme["unreleased"], acme["rated"]) == (3, 2, 1, 3)
        assert acme["top"] in {"acme-1", "acme-2", "acme-3"} and acme["bias"] > 0
        assert acme["corrected"] == round(acme["top_rating"] - acme["bias"], 2)
        assert rows["solo"]["bias"] == 0.0 and rows["solo"]["tested"] == 1  # one variant: nothing selected
        assert rows["big"]["flag"] == "over-sampled" and "big" in selection["flagged"]
        assert rows["big"]["share"] > 0.3 > rows["big"]["intended_share"]  # 1 of 6 models: 1/6 of the slots
        assert rows["acme"]["flag"] == "under-sampled"
        assert selection["sampler"] == "uniform" and selection["chi2"] > 0 and selection["p_value"] < 1e-6
        assert SelectionSummary.from_json(selection).as_json() == selection  # what replicas share through Redis

        # The same numbers as `glassboard audit selection --db` on the same database.
        out = tmp_path / "selection.json"
        result = CliRunner().invoke(app, ["audit", "selection", "--db", db_url, "--json", str(out)])
        assert result.exit_code == 0, result.output
        cli = {p["provider"]: p for p in json.loads(out.read_text())["providers"]}
        for provider, row in rows.items():
            for key in ("tested", "unreleased", "top", "top_rating", "bias", "bias_if_equal", "corrected", "share",
                        "intended_share", "flag"):
                assert row[key] == cli[provider][key], (provider, key)
            assert row["battle_slots"] == cli[provider]["slots"]

        page = (await client.http.get("/transparency")).text
        assert 'id="selection-table"' in page and "over-sampled" in page and "acme-" in page

        # A battle that can still be voted on changes nothing; its vote does (and the cache follows the count).
        battle_id = await client.create("Which is better?")
        await client.stream(battle_id)
        assert await wait_status(client, battle_id, {"ready"}) == "ready"
        assert (await client.http.get("/api/transparency")).json()["selection"] == selection
        assert (await client.vote(battle_id)).status_code == 200
        assert (await client.http.get("/api/transparency")).json()["selection"]["votes"] == 901


async def test_selection_summary_says_why_it_is_missing(tmp_path: Path, scripted_server) -> None:
    db_url = f"sqlite:///{tmp_path / 'arena.db'}"
    async with arena_client(settings_for(db_url, registry(scripted_server), sampler="uncertainty")) as client:
        selection = (await client.http.get("/api/transparency")).json()["selection"]
        assert selection["message"] == "Not enough usable votes for the selection audit yet: 0."
        assert selection["providers"] == [] and selection["sampler"] == "uncertainty"
        page = (await client.http.get("/transparency")).text
        assert "Not enough usable votes for the selection audit yet: 0." in page
