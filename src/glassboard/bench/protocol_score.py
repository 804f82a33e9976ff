"""Scoring a stored generation the way a protocol's publisher scores it: ladder, normaliser, unparsed rule.

Computed from the run log's responses at summary time (regexes only, no model calls), so the protocol score sits
next to glassboard's strict and lenient readings of the very same generations.

Unparsed rules: `wrong` (no credit); `uniform-guess` (credit 1/k, the expected value of a uniform guess among the
k options: never a random draw); `seeded-guess` (the MMLU-Pro scorer's own rule, reproduced bit for bit: Python's
`random.seed(seed)` then `randint(0, k - 1)` before each unparsed answer, i.e. a fixed option index per k).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from glassboard.bench.claims import verdict
from glassboard.bench.extract import AnswerKind, clean_math, last_boxed, lenient, normalise_number, strict
from glassboard.bench.protocol import LadderRung, Protocol
from glassboard.bench.scoring import is_correct
from glassboard.bench.stats import clustered_mean_ci
from glassboard.bench.summary import RunSummary, Score
from glassboard.schema import SampleRecord


@dataclass(frozen=True, slots=True)
class ProtocolReading:
    answer: str | None  # None = unparsed
    rung: str | None
    credit: float  # 0..1; 1/k or the seeded guess's hit for unparsed multiple choice


@dataclass(frozen=True, slots=True)
class ProtocolScore:
    """Accuracy as the protocol's publisher computes it, with a 95% CI clustered by question."""

    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    unparsed_rate: float | None
    n: int
    rungs: dict[str, int]  # how many answers each ladder rung read

    def as_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "unparsed_rate": self.unparsed_rate, "n": self.n, "rungs": self.rungs}


_KINDS: dict[str, AnswerKind] = {"letter": "letter", "number": "number", "string-nocomma": "number",
                                  "exact": "number", "math": "math"}


def _kind(protocol: Protocol) -> AnswerKind:
    return _KINDS[protocol.normaliser]


def extract(protocol: Protocol, response: str, letters: str = "") -> tuple[str | None, str | None]:
    """(answer, rung id) from the first rung that reads an answer; (None, None) when none does."""
    for rung in protocol.ladder:
        answer = _read(rung, protocol, response, letters)
        if answer is not None:
            return answer, rung.id
    return None, None


def _read(rung: LadderRung, protocol: Protocol, response: str, letters: str) -> str | None:
    if rung.builtin == "last-boxed":
        boxed = last_boxed(response)
        return None if boxed is None else _normalise(protocol, boxed)
    if rung.builtin is not None:
        reading = (strict if rung.builtin == "glassboard-strict" else lenient)(response, _kind(protocol), letters)
        return reading.answer
    assert rung.regex is not None
    if rung.pick == "first":
        match = rung.regex.search(response)
    else:
        matches = list(rung.regex.finditer(response))
        match = matches[-1] if matches else None
    if match is None:
        return None
    value = match.group(rung.group)
    return None if value is None else _normalise(protocol, value)


def _normalise(protocol: Protocol, value: str) -> str | None:
    if protocol.normaliser == "letter":
        return value.strip() or None
    if protocol.normaliser == "string-nocomma":
        return value.strip().replace(",", "") or None
    if protocol.normaliser == "exact":
        return value.strip() or None
    if protocol.normaliser == "number":
        return normalise_number(value)
    return clean_math(value)


def credit(protocol: Protocol, answer: str | None, target: str, letters: str) -> float:
    if answer is None:
        k = len(letters)
        if protocol.unparsed == "wrong" or k == 0:
            return 0.0
        if protocol.unparsed == "uniform-guess":
            return 1.0 / k
        return 1.0 if letters[seeded_guess(protocol.seed, k)] == target else 0.0
    if protocol.normaliser == "string-nocomma":
        return 1.0 if answer == target else 0.0
    if protocol.normaliser == "exact" or (protocol.normaliser == "letter" and protocol.exact.active):
        return 1.0 if protocol.exact.apply(answer) == protocol.exact.apply(target) else 0.0
    return 1.0 if is_correct(_kind(protocol), answer, target) else 0.0


@lru_cache(maxsize=64)
def seeded_guess(seed: int, k: int) -> int:
    """The option index the MMLU-Pro scorer credits for an unparsed answer among k options."""
    rng = random.Random(seed)
    return rng.randint(0, k - 1)


def read(protocol: Protocol, response: str, target: str, letters: str) -> ProtocolReading:
    answer, rung = extract(protocol, response, letters)
    return ProtocolReading(answer, rung, credit(protocol, answer, target, letters))


def score_records(protocol: Protocol, records: Iterable[SampleRecord]) -> ProtocolScore:
    """The protocol score over a run's successful records (model errors are never scored)."""
    values: list[float] = []
    questions: list[str] = []
    unparsed = 0
    rungs: dict[str, int] = {}
    for record in records:
        if not record.ok:
            continue
        reading = read(protocol, record.response or "", record.target, record.letters)
        values.append(reading.credit)
        questions.append(record.id)
        if reading.answer is None:
            unparsed += 1
        else:
            rungs[str(reading.rung)] = rungs.get(str(reading.rung), 0) + 1
    binary = all(v in (0.0, 1.0) for v in values)
    estimate = clustered_mean_ci(values, questions, proportion=binary)
    low, high = estimate.ci_low, estimate.ci_high
    return ProtocolScore(
        accuracy=estimate.mean, ci_low=None if low is None else max(0.0, low),
        ci_high=None if high is None else min(1.0, high),
        unparsed_rate=unparsed / len(values) if values else None, n=len(values), rungs=rungs)


@dataclass(frozen=True, slots=True)
class ProtocolRun:
    """A run scored under its protocol, with glassboard's strict and lenient readings of the same generations."""

    protocol: Protocol
    score: ProtocolScore
    strict: tuple[float | None, float | None, float | None]  # accuracy, ci_low, ci_high
    lenient: tuple[float | None, float | None, float | None]

    @classmethod
    def of(cls, protocol: Protocol, summary: RunSummary) -> ProtocolRun:
        def triple(score: Score) -> tuple[float | None, float | None, float | None]:
            return (score.accuracy, *score.ci)

        return cls(protocol, score_records(protocol, summary.records), triple(summary.strict),
                   triple(summary.lenient))

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol.as_dict(), "protocol_score": self.score.as_dict()}

    def claim(self, value: float) -> dict[str, Any]:
        """Verdicts of a claimed score against the protocol score and glassboard's strict and lenient."""
        return {"value": value, "protocol": self.protocol.name,
                "verdict_protocol": verdict(value, self.score.ci_low, self.score.ci_high),
                "verdict_strict": verdict(value, *self.strict[1:]),
                "verdict_lenient": verdict(value, *self.lenient[1:])}


def question_credits(protocol: Protocol, records: Iterable[SampleRecord]) -> dict[Hashable, float]:
    """Per question: mean credit over its scored epochs (for paired differences between protocols)."""
    sums: dict[str, list[float]] = {}
    for record in records:
        if record.ok:
            reading = read(protocol, record.response or "", record.target, record.letters)
            sums.setdefault(record.id, []).append(reading.credit)
    means: dict[Hashable, float] = {q: sum(v) / len(v) for q, v in sums.items()}
    return means
