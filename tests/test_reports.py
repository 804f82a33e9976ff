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


def test_a_contamination_report_keeps_each_probe_shape_through_the_json_round_trip() -> None:
    from glassboard.audit.contamination import shuffle_summary, ts_summary
    from glassboard.audit.contamination_report import (
        ContaminationData,
        ContaminationReport,
        ContaminationSettings,
        GapVsReference,
        GuessRecord,
        MinKProbe,
        MinKRecord,
        Probes,
        ShuffleRecord,
        SkippedProbe,
    )

    ts = ts_summary([GuessRecord(f"q{i}", f"opt {i}", f"opt {i}" if i < 3 else "x", i < 3) for i in range(6)], 0.25,
                    None)
    shuffle = shuffle_summary([ShuffleRecord(f"q{i}", 1.0, 0.5, ["A", None, "C"], "AB"[i % 2]) for i in range(4)])
    skipped = shuffle_summary([ShuffleRecord("q1", 1.0, 0.0, ["A"], "A")])
    min_k = MinKProbe(probe="Min-K%++", k=0.2, items=2, item_score=-1.0, baseline=-1.3, baseline_kind="controls",
                      difference=0.3, ci_low=0.1, ci_high=0.5, above_all_controls=1.0, margin=0.15, rule="r",
                      reference_difference=0.05, vs_reference=GapVsReference(0.25, 0.05, 0.45), verdict="signal",
                      records=[MinKRecord("q1", -1.0, [-1.2, -1.4], 0.3), MinKRecord("q2", -1.0, [-1.3], 0.3)])
    report = ContaminationReport(
        model={"name": "m", "id": "m@1"}, reference=None, task="mmlu-pro",
        data=ContaminationData(source="mmlu_pro.jsonl", sha256="ab" * 32, items=8), items=6,
        probes=Probes(ts, shuffle, min_k), signals=["min_k"], verdict="contamination signal", caveats=["weak"],
        settings=ContaminationSettings(0, ["ts_guessing", "shuffle", "min_k"], 2, 2, 0.2, 0.25, 0.15), elapsed_s=1.0,
        cpu_s=0.5)
    data = report.to_json()
    assert list(data) == ["audit", "model", "reference", "task", "data", "items", "probes", "signals", "verdict",
                          "caveats",
                          "settings", "elapsed_s", "cpu_s"]
    assert list(data["probes"]) == ["ts_guessing", "shuffle", "min_k"]
    assert list(data["probes"]["min_k"])[-4:] == ["reference_difference", "vs_reference", "verdict", "records"]
    assert data["settings"]["temperature"] == 0.0 and data["probes"]["shuffle"]["letter_bias"]["letter"] == "A"
    assert round_trip(report) == report
    # Skipped probes, no reference and a probe not asked for: the keys of the documents written before types.
    bare = replace(report, probes=Probes(shuffle=skipped, min_k=SkippedProbe(probe="Min-K%++", reason="no logprobs")))
    data = bare.to_json()
    assert list(data["probes"]) == ["shuffle", "min_k"]
    assert list(data["probes"]["shuffle"]) == ["probe", "items", "verdict", "reason"]
    assert data["probes"]["min_k"] == {"probe": "Min-K%++", "verdict": "skipped", "reason": "no logprobs"}
    assert "reference_difference" not in replace(min_k, reference_difference=None, vs_reference=None).to_json()
    assert round_trip(bare) == bare


def test_a_providers_report_keeps_reference_and_endpoint_rows_apart_through_the_json_round_trip() -> None:
    from glassboard.audit.providers import DataFile, EndpointIdentity, EndpointReport, PairedShare, ProvidersReport

    base = EndpointReport(model="ref", variant_id="ref@1", accuracy=0.5, ci_low=0.2, ci_high=0.8, strict_accuracy=0.4,
                          lenient_accuracy=0.5, n=10, errors=0, unparsed_rate=0.1, truncated_rate=0.0,
                          mean_completion_tokens=20.5, log="runs/ref.jsonl", stopped=None)
    share = PairedShare(0.3, 0.5, -0.2, -0.4, -0.01, True)
    settings = IdentitySettings(10, 8, 24, 4, 100, 0, 0.7, 0.7, "each variant's own")
    identity = EndpointIdentity(0.2, 0.001, 160, "different", 0.1, 0.1, 0.3, settings)
    other = replace(base, model="cheap", vs_reference=share, unparsed_vs_reference=None, truncated_vs_reference=share,
                    identity=identity, flagged=True, reasons=["accuracy differs"])
    report = ProvidersReport(task="mmlu-pro", data=DataFile("items.jsonl", None, 10), reference="ref",
                             scoring="lenient", endpoints=[replace(base, reference=True), other,
                                                           replace(other, model="no-id", identity=None)],
                             flagged=["cheap", "no-id"], rule="r", variants=[{"name": "ref"}], elapsed_s=3.0, cpu_s=2.0)
    rows = report.to_json()["endpoints"]
    assert list(rows[0])[-4:] == ["stopped", "reference", "flagged", "reasons"] and rows[0]["reference"] is True
    assert list(rows[1])[-7:] == ["stopped", "vs_reference", "unparsed_vs_reference", "truncated_vs_reference",
                                  "identity", "flagged", "reasons"]
    assert rows[1]["unparsed_vs_reference"] is None and "reference" not in rows[1]
    assert "identity" not in rows[2]  # the identity test was not run
    assert list(rows[1]["identity"]) == ["statistic", "p_value", "samples", "verdict", "within_a", "within_b",
                                         "across", "settings"]
    assert round_trip(report) == report


def test_a_real_context_summary_and_report_survive_the_json_round_trip() -> None:
    from glassboard.audit.context import parse_threshold, summarize
    from glassboard.audit.context_record import ContextRecord
    from glassboard.audit.context_report import ContextReport

    def row(length: int, depth: float | None, score: float | None, truncated: bool = False) -> ContextRecord:
        return ContextRecord(id=f"c{length}{depth}", epoch=1, prompt_hash="h", status="ok", task="niah_single",
                             length=length, depth=depth, sample=0, sent_tokens=length, score=score,
                             truncated=truncated)

    records = [row(512, 0.0, 1.0), row(512, 1.0, 1.0), row(1024, None, 0.0), row(2048, 0.5, None, truncated=True)]
    summary = summarize(records, [512, 1024, 2048], 4096, parse_threshold("relative:0.9"))
    assert list(summary.to_json()["cells"][0]) == ["task", "length", "depth", "n", "accuracy", "ci_low", "ci_high",
                                                    "truncated", "truncated_samples", "errors"]
    assert round_trip(summary) == summary
    report = ContextReport(
        model="m", claimed_context=summary.claimed_context, effective_length=summary.effective_length,
        effective_length_conservative=summary.effective_length_conservative, threshold=summary.threshold,
        bar=summary.bar, verdict=summary.verdict, truncated_at=summary.truncated_at, lengths=summary.lengths,
        cells=summary.cells, errors=summary.errors, tasks=["niah_single"], depths=[0.0, 0.5, 1.0], samples=1,
        haystack="prose", measure="exact", template_tokens=12, caveats=[], log="runs/c.jsonl",
        variant={"name": "m"}, elapsed_s=0.5)
    data = report.to_json()
    assert list(data)[:3] == ["audit", "model", "claimed_context"] and list(data)[-3:] == ["log", "variant",
                                                                                         "elapsed_s"]
    assert round_trip(report) == report


def test_a_sensitivity_report_keeps_the_identical_note_and_overrides_through_the_json_round_trip() -> None:
    from glassboard.bench.sensitivity import (
        DiffVsFirst,
        LargestGap,
        ProtocolInfo,
        SensitivityReport,
        SensitivityRow,
        largest_gap,
    )

    first = SensitivityRow(protocol=ProtocolInfo(name="glassboard", version=1, sha256="ab" * 32, status="verified",
                                                 source={"repository": "x"}),
                           accuracy=0.5, ci_low=0.2, ci_high=0.8, unparsed_rate=0.0, n=10, rungs={"final": 10},
                           errors=0, log="runs/a.jsonl", diff_vs_first=None)
    same = DiffVsFirst(n=10, mean_a=0.5, mean_b=0.5, diff=0.0, se=None, ci_low=None, ci_high=None, correlation=1.0,
                       significant=False, note="identical on every shared question")
    second = replace(first, protocol=replace(first.protocol, name="official", overrides={"max_tokens": 8}),
                     accuracy=0.3, diff_vs_first=replace(same, diff=-0.2, se=0.1, ci_low=-0.4, ci_high=0.0, note=None))
    third = replace(first, protocol=replace(first.protocol, name="copy"), diff_vs_first=same)
    rows = [first, second, third]
    assert largest_gap(rows) == LargestGap(pytest.approx(0.2), "glassboard", "official")
    report = SensitivityReport("gsm8k", "m", 10, rows, largest_gap(rows))
    data = report.to_json()
    assert list(data["protocols"][0]["protocol"]) == ["name", "version", "sha256", "status", "source"]
    assert data["protocols"][1]["protocol"]["overrides"] == {"max_tokens": 8}
    assert "note" not in data["protocols"][1]["diff_vs_first"]
    assert list(data["protocols"][2]["diff_vs_first"])[-1] == "note" and third.diff_vs_first is not None
    assert third.diff_vs_first.identical and data["largest_gap"]["highest"] == "glassboard"
    assert round_trip(report) == report
