"""Typed audit reports: to_json -> JSON text -> from_json gives the same report, for every report type."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from glassboard.audit.identity import IdentityExamples, IdentityReport, IdentitySettings, LogprobComparison
from glassboard.audit.integrity_reports import (
    Attacker,
    CurveReport,
    Deanonymisation,
    DefenceSummary,
    Estimate,
    GoalVotes,
    ManipulationReport,
    ReasonCount,
)
from glassboard.audit.selection import Variant, audit_selection
from glassboard.audit.style import StyleReport, audit_style
from glassboard.rating.synth import synthetic_battles
from glassboard.schema import JsonRecord, RecordError, SelectionReport


def round_trip(report: JsonRecord) -> Any:
    """The report after writing it as JSON text and reading it back (what `--json` then a reader does)."""
    return type(report).from_json(json.loads(json.dumps(report.to_json())))


def test_a_real_selection_report_survives_the_json_round_trip() -> None:
    table, _ = synthetic_battles(600, 5, seed=1)
    variants = {m: Variant("two" if i < 2 else m, public=i != 0) for i, m in enumerate(table.models)}
    report = audit_selection(table, variants)
    data = report.to_json()
    assert list(data)[:3] == ["audit", "source", "battles"] and data["audit"] == "selection"
    assert list(data["providers"][0])[:8] == ["provider", "public", "unreleased", "tested", "rated", "slots",
                                             "expected_slots", "variants"]
    assert round_trip(report) == report


def manipulation_report() -> ManipulationReport:
    estimate = Estimate(0.71, 0.65, 0.77)
    goals = {"up_1": GoalVotes(3, [120, None, 300], 2, 3, 300, 120, None), "rank_1": GoalVotes(1, [None] * 3, 0, 3,
                                                                                             None, None, None)}
    curve = CurveReport(True, [10, 100], [4.0, 3.0], [4.0, 2.0], [4.0, 4.0], goals)
    return ManipulationReport(
        source="votes.jsonl", target="m1", battles=500, models=6, start_rank=4, budget=100, seed=0, seeds=3,
        votes_per_account=50,
        deanonymisation=Deanonymisation("m1", 900, 160, 500, True, 5, estimate, estimate, estimate, estimate, 0.4, 0.1),
        attacker=Attacker(0.4, 0.1, 0.8),
        defence=DefenceSummary(300, 2, 80, {"targeted": ReasonCount(2, 80)}, 8.1, 0.01), curves=[curve, curve],
    )


def test_a_manipulation_report_survives_the_json_round_trip_with_its_key_order() -> None:
    report = manipulation_report()
    data = report.to_json()
    assert list(data) == ["audit", "source", "target", "battles", "models", "start_rank", "budget", "seed", "seeds",
                          "votes_per_account", "deanonymisation", "attacker", "defence", "curves"]
    assert data["attacker"] == {"tpr": 0.4, "fpr": 0.1, "side_accuracy": 0.8, "otherwise": "abstains"}
    assert data["defence"]["by_reason"] == {"targeted": {"voters": 2, "votes": 80}}
    assert round_trip(report) == report


def test_a_malformed_report_is_an_error_naming_the_field() -> None:
    data = manipulation_report().to_json()
    data["curves"][1]["votes_needed"]["up_1"]["reached"] = "many"
    with pytest.raises(RecordError, match=r"curves\.1\.votes_needed\.up_1\.reached"):
        ManipulationReport.from_json(data)
    with pytest.raises(RecordError, match="battles"):
        SelectionReport.from_json({"audit": "selection", "source": "x"})


def test_a_real_style_report_survives_the_json_round_trip_with_its_key_order() -> None:
    rows = [{"model_a": f"m{i % 3}", "model_b": f"m{(i + 1) % 3}", "winner": ("model_a", "model_b", "tie")[i % 5 % 3],
             "tstamp": float(i), "conversation_a": [{"role": "assistant", "content": "**a**\n- x" * (i % 4)}],
             "conversation_b": [{"role": "assistant", "content": "plain answer " * (1 + i % 3)}]} for i in range(300)]
    report = audit_style(rows, source="rows")
    data = report.to_json()
    assert list(data) == ["audit", "source", "battles", "excluded", "variants", "flagged", "style_identified",
                          "style_coefficients", "rule", "ci", "warnings"]
    assert list(data["variants"][0]) == [
        "model", "battles", "tokens", "headers", "lists", "bold", "emoji", "rating", "ci_low", "ci_high", "rank",
        "style_rating", "style_ci_low", "style_ci_high", "style_rank", "rank_ub", "style_rank_ub", "rank_shift",
        "rank_drop", "flagged", "reasons"]
    assert StyleReport.from_json(json.loads(json.dumps(data))) == report


def test_an_identity_report_keeps_both_logprob_shapes_through_the_json_round_trip() -> None:
    settings = IdentitySettings(6, 10, 24, 24, 100, 0, 0.7, 0.7, "each variant's own")
    base = IdentityReport(
        model_a={"name": "a", "id": "a@1"}, model_b={"name": "b", "id": "b@1"}, statistic=0.01, p_value=0.4,
        permutations=1000, samples_a=60, samples_b=60, within_a=0.3, within_b=0.31, across=0.3, samples=120,
        verdict="same", alpha=0.05, method="MMD", settings=settings, tokens_generated=900,
        examples=IdentityExamples(["x", "y"], ["z", ""], "hi"), logprobs=LogprobComparison(False, "disabled"),
        elapsed_s=1.5, cpu_s=1.2)
    assert base.to_json()["logprobs"] == {"available": False, "reason": "disabled"}
    assert list(base.to_json())[:2] == ["audit", "model_a"] and list(base.to_json())[-3:] == [
        "logprobs", "elapsed_s", "cpu_s"]
    full = replace(base, logprobs=LogprobComparison(True, None, 12, 300, 0.2, -0.01, 1.5, 0, False))
    assert "reason" not in full.to_json()["logprobs"]
    for report in (base, full):
        assert round_trip(report) == report
