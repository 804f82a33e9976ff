"""The `judge run` report: per-model scores and the judge audit, as one JSON document (and the table rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glassboard.judge.audits import JudgeAudit, audit
from glassboard.judge.run import JudgeRun
from glassboard.judge.scores import ModelScore, score_models


@dataclass(frozen=True, slots=True)
class JudgeSummary:
    run: JudgeRun
    scores: list[ModelScore]
    audit: JudgeAudit
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        run = self.run
        return {
            "judge": run.judge.snapshot(), "judge_prompt": {"hash": run.prompt.hash, "source": run.prompt.source},
            "baseline": {"name": run.baseline.name, "variant": run.baseline.id},
            "prompts": len(run.prompts), "judgments": len(run.judgments), "unparsable": run.unparsable,
            "judge_errors": run.judge_errors, "answer_errors": dict(run.answer_errors), "stopped": run.stopped,
            "elapsed_s": round(run.elapsed_s, 3),
            "models": [s.to_json() for s in self.scores], "audit": self.audit.to_json(), "notes": list(self.notes),
        }


def summarize(run: JudgeRun, human: list[dict[str, Any]] | None = None, seed: int = 0) -> JudgeSummary:
    """Scores for every model and the judge's audit (human votes, when given, for agreement and self-preference)."""
    scores, boots, notes = score_models(run, seed)
    return JudgeSummary(run, scores, audit(run, scores, boots, human, seed), tuple(notes))
