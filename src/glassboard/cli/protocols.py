"""CLI commands for benchmark protocols: `glassboard protocols`, `glassboard claims check`, `audit protocols`,
and the protocol lines `glassboard eval` prints."""

from __future__ import annotations

from glassboard.bench.claimsfile import split_claim
from glassboard.bench.protocol import prepare as prepare_protocol
from glassboard.bench.protocol_score import ProtocolRun

__all__ = ["ProtocolRun", "claim_line", "prepare_protocol", "split_claim", "protocol_line"]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def protocol_line(run: ProtocolRun) -> str:
    score, protocol = run.score, run.protocol
    unparsed = "n/a" if score.unparsed_rate is None else f"{score.unparsed_rate:.1%}"
    return (f"  protocol {protocol.name} v{protocol.version} ({protocol.short_hash}): {_fmt(score.accuracy)}  "
            f"95% CI [{_fmt(score.ci_low)}, {_fmt(score.ci_high)}]   unparsed {unparsed} "
            f"({protocol.unparsed} rule)")


def claim_line(value: float, run: ProtocolRun) -> str:
    verdicts = run.claim(value)
    holds = [name for name, key in ((run.protocol.name, "verdict_protocol"), ("glassboard strict", "verdict_strict"),
                                    ("glassboard lenient", "verdict_lenient")) if verdicts[key] == "consistent"]
    where = ", ".join(holds) if holds else "none of them"
    return (f"  claim    {value:.3f}: {run.protocol.name} {verdicts['verdict_protocol']}, strict "
            f"{verdicts['verdict_strict']}, lenient {verdicts['verdict_lenient']} at 95%; holds under: {where}")
