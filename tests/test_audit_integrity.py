"""`audit manipulation` and `audit selection` on simulated battles with known ground truth: the de-anonymiser finds
a marked model, a planted attacker moves its target and needs more votes against the defence, best-of-N bias
matches its analytic value for equal strengths, and an over-sampled provider is flagged."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from glassboard.audit.attack import simulate
from glassboard.audit.deanon import deanonymise
from glassboard.audit.manipulation import audit_manipulation
from glassboard.audit.selection import Variant, audit_selection, best_of_n_bias, expected_max_normal
from glassboard.cli import app
from glassboard.rating.synth import synthetic_battles
from glassboard.rating.table import BattleTable
from glassboard.schema import WINNERS
from glassboard.store.battles import Store

WORDS = "the a is good bad yes no sure here well so then".split()


def battles_with_text(seed: int = 1, n_models: int = 8, honest_voters: int = 600) -> tuple[list[dict], str]:
    """Simulated honest votes whose answers are random words; the target's answers often say 'certainly'."""
    pop = simulate(seed=seed, n_models=n_models, honest_voters=honest_voters, attackers=0, random_voters=0)
    rng = random.Random(seed)
    t = pop.table

    def answer(model: int) -> list[dict]:
        words = [rng.choice(WORDS) for _ in range(15)]
        if model == pop.target and rng.random() < 0.7:
            words.insert(3, "certainly")
        return [{"role": "user", "content": "q"}, {"role": "assistant", "content": " ".join(words)}]

    rows = [{"model_a": t.models[a], "model_b": t.models[b], "winner": WINNERS[o], "voter": pop.voters[v],
             "tstamp": 1.7e9 + i, "conversation_a": answer(a), "conversation_b": answer(b)}
            for i, (a, b, o, v) in enumerate(zip(t.a.tolist(), t.b.tolist(), t.outcome.tolist(),
                                                 pop.voter_codes.tolist(), strict=True))]
    return rows, t.models[pop.target]


def test_the_deanonymiser_finds_a_marked_model_and_not_an_unmarked_one() -> None:
    rows, target = battles_with_text()
    table = BattleTable.from_battles(rows)
    marked = deanonymise(rows, table, target, max_answers=6000, rounds=200)
    assert marked.auc.low > 0.75 and marked.side_accuracy.value > 0.75 and marked.uses_text
    assert marked.auc.low < marked.auc.value < marked.auc.high
    other = next(m for m in table.models if m != target)
    unmarked = deanonymise(rows, table, other, max_answers=6000, rounds=200)
    # only a weak signal: its answers lack the marked model's word
    assert unmarked.auc.value < 0.6 and unmarked.auc.high < marked.auc.low


def test_a_planted_attacker_moves_its_target_and_the_defence_makes_it_pay_more() -> None:
    rows, target = battles_with_text()
    table = BattleTable.from_battles(rows)
    report = audit_manipulation(rows, table, target, budget=3000, seeds=3)
    undefended, defended = report.curves
    assert not undefended.defended and defended.defended
    up1 = undefended.votes_needed["up_1"]
    assert up1.reached == 3 and up1.median is not None and up1.median <= 1000  # a weak target moves with hundreds
    d_up1 = defended.votes_needed["up_1"].per_seed
    for plain, guarded in zip(up1.per_seed, d_up1, strict=True):
        assert plain is not None and (guarded is None or guarded > 2 * plain)
    assert report.defence.flagged_voters <= 6  # honest simulated voters: at most 1% flagged


def test_expected_max_of_normals_matches_known_values() -> None:
    assert expected_max_normal(1) == 0.0
    assert expected_max_normal(2) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-9)
    assert expected_max_normal(5) == pytest.approx(1.162964, abs=1e-5)
    assert best_of_n_bias(np.zeros(10), np.full(10, 5.0)) == pytest.approx(5 * expected_max_normal(10), rel=0.02)


def test_best_of_n_bias_on_fitted_ratings_equals_its_analytic_value_for_equal_strengths() -> None:
    n, gaps, ses = 8, [], []
    for rep in range(40):
        table, _ = synthetic_battles(4000, n, seed=rep, theta=np.zeros(n))
        report = audit_selection(table, {m: Variant("one") for m in table.models})
        (row,) = report.providers
        assert row.top_rating is not None
        gaps.append(row.top_rating - 1000.0)  # every true rating is the centre
        ses.append(np.sqrt(np.mean([(v.se or 0.0) ** 2 for v in row.variants])))
    analytic = float(np.mean(ses)) * expected_max_normal(n)
    measured, sem = float(np.mean(gaps)), float(np.std(gaps) / np.sqrt(len(gaps)))
    assert abs(measured - analytic) < 3 * sem + 0.1 * analytic, (measured, analytic, sem)


def test_an_over_sampled_provider_is_flagged_and_fair_ones_are_not() -> None:
    popularity = np.ones(8)
    popularity[:2] = 2.0
    table, _ = synthetic_battles(20_000, 8, seed=3, popularity=popularity)
    variants = {m: Variant("big" if i < 2 else f"p{i}", public=i != 1) for i, m in enumerate(table.models)}
    report = audit_selection(table, variants)
    rows = {r.provider: r for r in report.providers}
    assert rows["big"].flag == "over-sampled" and rows["big"].tested == 2 and rows["big"].unreleased == 1
    assert report.fairness.p_value is not None and report.fairness.p_value < 1e-6
    assert "big" in report.fairness.flagged
    fair, _ = synthetic_battles(20_000, 8, seed=4)
    assert audit_selection(fair).fairness.flagged == []


def test_cli_manipulation_and_selection_on_an_arena_database(tmp_path: Path) -> None:
    rows, target = battles_with_text(seed=2, n_models=6, honest_voters=300)
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store(url)
    store.import_file(str(path))
    store.close()
    runner = CliRunner()
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["audit", "manipulation", "--db", url, "--target", target, "--budget", "500",
                                 "--seeds", "2", "--json", str(out), "--plot", str(tmp_path / "v.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["target"] == target and len(report["curves"]) == 2 and (tmp_path / "v.png").stat().st_size > 0
    result = runner.invoke(app, ["audit", "selection", "--db", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["fairness"]["df"] == 5
    bad = runner.invoke(app, ["audit", "manipulation", str(path), "--target", "no-such-model"])
    assert bad.exit_code == 2 and "no-such-model" in bad.output and "Traceback" not in bad.output
