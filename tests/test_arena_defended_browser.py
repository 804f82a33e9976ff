"""The defended leaderboard in headless Chromium (issue 16): attackers planted in an arena database (simulated voters
with known kinds) are flagged; the page shows the defended board beside the raw one without their votes, and the
transparency page says how many votes are left out and why, next to the selection and sampling-fairness table."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser

from arena_fixtures import ArenaServer, scripted_registry, settings_for
from glassboard.audit.attack import Population, simulate
from glassboard.models.scripted_server import ScriptedServer
from glassboard.schema import WINNERS
from glassboard.store.battles import Store

ATTACKERS, VOTES_EACH = 6, 60


def population_rows(pop: Population) -> list[dict]:
    t = pop.table
    return [{"model_a": t.models[a], "model_b": t.models[b], "winner": WINNERS[int(o)], "voter": pop.voters[v],
             "battle_id": f"sim-{i}", "tstamp": 1.7e9 + i}
            for i, (a, b, o, v) in enumerate(zip(t.a.tolist(), t.b.tolist(), t.outcome.tolist(),
                                                 pop.voter_codes.tolist(), strict=True))]


def table(page, selector: str) -> dict[str, list[str]]:  # noqa: ANN001 - a Playwright page
    """Rows of a board table by model name: the cells' texts."""
    rows = [r.split("\t") for r in page.locator(f"{selector} tbody tr").all_inner_texts()]
    return {cells[0].strip(): [c.strip() for c in cells] for cells in rows}


def test_defended_board_beside_the_raw_one_and_exclusions_on_transparency(
        browser: Browser, scripted_server: ScriptedServer, tmp_path: Path) -> None:
    pop = simulate(seed=3, n_models=6, honest_voters=300, honest_mean_votes=8, attackers=ATTACKERS,
                   random_voters=0, votes_per_attacker=VOTES_EACH)
    target = pop.table.models[pop.target]
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in population_rows(pop)))
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store(db)
    store.import_file(str(path))
    store.close()
    excluded = ATTACKERS * VOTES_EACH
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    with ArenaServer(settings_for(db, registry)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/leaderboard")
        assert page.locator("#board").is_visible() and page.locator("#defended-board").is_visible()
        # The defended board follows the raw one on the same page.
        assert page.locator("#defended-board").bounding_box()["y"] > page.locator("#board").bounding_box()["y"]
        summary = " ".join(page.inner_text("#defence-summary").split())
        assert f"{ATTACKERS} flagged as anomalous, {excluded} of their vote(s) left out" in summary
        raw, defended = table(page, "#board"), table(page, "#defended-board")
        assert set(raw) == set(defended) == set(pop.table.models)
        votes_raw = sum(int(cells[-1]) for cells in raw.values())
        votes_defended = sum(int(cells[-1]) for cells in defended.values())
        assert votes_raw == 2 * len(pop.table) and votes_defended == 2 * (len(pop.table) - excluded)
        # The attack lifted the target on the raw board; the defended board rates it lower (rating column).
        assert int(raw[target][2]) > int(defended[target][2])
        attacker_votes = pop.kind[pop.voter_codes] == 1
        with_target = int(((pop.table.a == pop.target) | (pop.table.b == pop.target))[attacker_votes].sum())
        assert int(raw[target][-1]) - int(defended[target][-1]) == with_target

        page.goto(f"{server.url}/transparency")
        rows = {cells[0]: cells[1:] for cells in
                (r.split("\t") for r in page.locator("#exclusions tbody tr").all_inner_texts())}
        targeted = next(v for k, v in rows.items() if "always votes for one model" in k)
        assert [c.strip() for c in targeted[:2]] == [str(ATTACKERS), str(excluded)]
        randoms = next(v for k, v in rows.items() if "votes at random" in k)
        assert [c.strip() for c in randoms[:2]] == ["0", "0"]
        assert page.locator("#selection-table").is_visible()
        providers = table(page, "#selection-table")
        assert set(providers) == {f"provider-{m}" for m in ("alpha", "beta")} | set(pop.table.models)
        page.close()
