"""`judge run`: answers from every model and the baseline, then the judge's verdicts in both orders, as battles.

Both steps go through the benchmark runner (bench.runner.run_eval): one resumable JSONL log per variant, bounded
concurrency, model errors stored and never judged. A prompt whose answer failed for a model is left out of that
model's judgments (and counted); a verdict that does not parse is counted and left out (never guessed).
Judgments become LMArena-schema battles: model_a is the answer shown first, `source` = "judge", plus the judge
variant id, the judge prompt hash, the position and the 5-point verdict as extra columns.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from glassboard.bench.data import DataIssues, Row, text
from glassboard.bench.data import field as row_field
from glassboard.bench.log import read_log
from glassboard.bench.runner import DEFAULT_LOG_DIR, ProgressFn, run_eval
from glassboard.bench.tasks import Sample, Task
from glassboard.judge.verdict import STRENGTH, JudgeError, JudgePrompt, Verdict, parse_verdict
from glassboard.models.hub import ModelHub
from glassboard.models.registry import Variant
from glassboard.rating.battles import compute_conv_metadata
from glassboard.schema import SampleRecord

Position = Literal["model_first", "baseline_first"]
POSITIONS: tuple[Position, Position] = ("model_first", "baseline_first")


class PromptsTask(Task):
    """The user prompts of an auto-arena: JSONL/CSV/Parquet rows with `prompt` (and optional `id`, `category`)."""

    name: ClassVar[str] = "auto-arena"
    kind = "number"  # unused: free text is not scored
    scored = False
    template = "{question}"
    description = "auto-arena prompts; fields prompt, optional id and category"

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        prompt = row_field(row, "prompt", text)
        sample_id = row_field(row, "id", text, required=False) or str(row.index)
        return Sample(id=sample_id, question=prompt, target="", cluster=row_field(row, "category", text,
                                                                                   required=False))


class JudgeTask(Task):
    """Judge prompts, already rendered (each sample's question is the whole judge prompt)."""

    name: ClassVar[str] = "judge"
    kind = "number"
    scored = False
    template = "{question}"
    description = "pairwise judgments"


@dataclass(frozen=True, slots=True)
class Judgment:
    """One verdict of the judge on (model, prompt, position); `verdict` None = unparsable."""

    model: str
    variant: str
    prompt_id: str
    prompt: str
    position: Position
    model_answer: str
    baseline_answer: str
    verdict: Verdict | None
    output: str

    @property
    def model_is_a(self) -> bool:
        return self.position == "model_first"

    @property
    def model_score(self) -> float | None:
        """1 when the model's answer is preferred, 0.5 for A=B, 0 when the baseline's is; None if unparsable."""
        if self.verdict is None:
            return None
        strength = STRENGTH[self.verdict] * (1 if self.model_is_a else -1)
        return 1.0 if strength > 0 else 0.0 if strength < 0 else 0.5


@dataclass
class JudgeRun:
    """What `judge run` produced: judgments (parsed or not), battles, and the counts of what was left out."""

    judge: Variant
    baseline: Variant
    models: list[Variant]
    prompt: JudgePrompt
    prompts: list[Sample]
    judgments: list[Judgment]
    answer_errors: dict[str, int] = field(default_factory=dict)  # contestant -> prompts it did not answer
    unjudged: dict[str, int] = field(default_factory=dict)  # model -> prompts left out (its or the baseline's
    # answer missing)
    judge_errors: int = 0  # judge requests that ended in a model error (retried on the next run)
    stopped: str | None = None
    elapsed_s: float = 0.0
    _battles: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def unparsable(self) -> int:
        return sum(1 for j in self.judgments if j.verdict is None)

    def battles(self) -> list[dict[str, Any]]:
        """The parsed judgments as LMArena-schema battle rows (model_a = the answer shown first)."""
        if self._battles is None:
            judge_id, prompt_hash = self.judge.id, self.prompt.hash  # each is a hash: computed once
            self._battles = [judgment_battle(j, self.baseline.name, self.judge.name, judge_id, prompt_hash)
                             for j in self.judgments if j.verdict is not None]
        return self._battles


def judgment_battle(j: Judgment, baseline: str, judge: str, judge_id: str, prompt_hash: str) -> dict[str, Any]:
    assert j.verdict is not None
    first, second = (j.model, baseline) if j.model_is_a else (baseline, j.model)
    ans_a, ans_b = (j.model_answer, j.baseline_answer) if j.model_is_a else (j.baseline_answer, j.model_answer)
    conv_a = [{"role": "user", "content": j.prompt}, {"role": "assistant", "content": ans_a}]
    conv_b = [{"role": "user", "content": j.prompt}, {"role": "assistant", "content": ans_b}]
    strength = STRENGTH[j.verdict]
    winner = "model_a" if strength > 0 else "model_b" if strength < 0 else "tie"
    key = f"{judge_id}|{prompt_hash}|{j.variant}|{j.prompt_id}|{j.position}"
    return {
        "model_a": first, "model_b": second, "winner": winner,
        "conversation_a": conv_a, "conversation_b": conv_b, "conv_metadata": compute_conv_metadata(conv_a, conv_b),
        "flags": [],
        "source": "judge", "judge": judge, "judge_variant": judge_id, "judge_prompt_hash": prompt_hash,
        "position": j.position, "verdict": j.verdict, "question_id": j.prompt_id,
        "battle_id": "judge-" + hashlib.sha256(key.encode()).hexdigest()[:24],
    }


async def judge_arena(
    hub: ModelHub, judge: Variant, baseline: Variant, models: Sequence[Variant], prompts: Sequence[Sample], *,
    prompt: JudgePrompt | None = None, swap: bool = True, concurrency: int = 16, log_dir: Path = DEFAULT_LOG_DIR,
    progress: ProgressFn | None = None,
) -> JudgeRun:
    """Answer every prompt with every model and the baseline, then judge each answer against the baseline's."""
    prompt = prompt or JudgePrompt.load(None)
    names = [v.name for v in models]
    if baseline.name in names:
        raise JudgeError(f"the baseline '{baseline.name}' is also in --models; a model is judged against it")
    if len(set(names)) != len(names):
        raise JudgeError(f"--models names a model twice: {', '.join(names)}")
    started = time.perf_counter()
    task = PromptsTask()
    contestants = [baseline, *models]
    results = await asyncio.gather(*(
        run_eval(hub, v, task, prompts, concurrency=concurrency, log_dir=log_dir / "answers") for v in contestants
    ))
    answers: dict[str, dict[str, str]] = {}
    errors: dict[str, int] = {}
    for variant, result in zip(contestants, results, strict=True):
        if result.stopped:
            raise JudgeError(f"answers of '{variant.name}' stopped early: {result.stopped} (log {result.log_path})")
        got = _responses(read_log(result.log_path).records.values(), {k for k in result.keys})
        answers[variant.name] = got
        errors[variant.name] = len(prompts) - len(got)
    base = answers[baseline.name]
    samples, meta = [], {}
    unjudged: dict[str, int] = {}
    for variant in models:
        unjudged[variant.name] = 0
        for p in prompts:
            mine, theirs = answers[variant.name].get(p.id), base.get(p.id)
            if mine is None or theirs is None:
                unjudged[variant.name] += 1
                continue
            for position in POSITIONS if swap else POSITIONS[:1]:
                a, b = (mine, theirs) if position == "model_first" else (theirs, mine)
                sample_id = f"{variant.id}|{p.id}|{position}"
                samples.append(Sample(id=sample_id, question=prompt.render(p.question, a, b), target=""))
                meta[sample_id] = (variant, p, position, mine, theirs)
    log_path = log_dir / "judgments" / f"{_safe(judge.name)}-{judge.id}-{prompt.hash}.jsonl"
    judged = await run_eval(hub, judge, JudgeTask(), samples, concurrency=concurrency, log_path=log_path,
                            progress=progress) if samples else None
    judgments: list[Judgment] = []
    judge_errors = 0
    if judged is not None:
        wanted = set(judged.keys)
        for record in read_log(judged.log_path).records.values():
            if record.key not in wanted:
                continue
            if not record.ok:
                judge_errors += 1
                continue
            variant, p, position, mine, theirs = meta[record.id]
            judgments.append(Judgment(variant.name, variant.id, p.id, p.question, position, mine, theirs,
                                      parse_verdict(record.response), record.response or ""))
    return JudgeRun(judge, baseline, list(models), prompt, list(prompts), judgments, errors, unjudged, judge_errors,
                    judged.stopped if judged is not None else None, time.perf_counter() - started)


def _responses(records: Any, keys: set[tuple[str, int, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for record in records:
        assert isinstance(record, SampleRecord)
        if record.key in keys and record.ok and record.response is not None:
            out[record.id] = record.response
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "judge"
