"""Run summaries recomputed from a run log: strict/lenient accuracy with CIs, unparsed rate, errors; comparisons."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from glassboard.bench.data import DataError, DataWarning
from glassboard.bench.extract import AnswerKind
from glassboard.bench.log import Key, LogContents, read_log
from glassboard.bench.stats import (
    Estimate,
    PairedDifference,
    clustered_mean_ci,
    paired_difference,
    questions_needed,
    within_question_variance,
)
from glassboard.schema import SampleRecord

Scoring = Literal["strict", "lenient"]
SCORINGS: tuple[Scoring, Scoring] = ("strict", "lenient")


@dataclass(frozen=True, slots=True)
class Score:
    """Accuracy of one scoring over the samples that did not end in a model error."""

    estimate: Estimate  # clustered by question (equals the CLT when each question has one epoch)
    unparsed_rate: float | None  # share of scored samples where this scoring found no answer
    subject: Estimate | None = None  # clustered by subject/category, when the data has them
    within_question_var: float | None = None  # mean variance of a question's score across epochs

    @property
    def accuracy(self) -> float | None:
        return self.estimate.mean

    @property
    def ci(self) -> tuple[float | None, float | None]:
        """The 95% interval clipped to [0, 1]."""
        low, high = self.estimate.ci_low, self.estimate.ci_high
        return (None if low is None else max(0.0, low), None if high is None else min(1.0, high))

    def as_dict(self) -> dict[str, Any]:
        low, high = self.ci
        data: dict[str, Any] = {"accuracy": self.accuracy, "ci_low": low, "ci_high": high, "se": self.estimate.se,
                                "unparsed_rate": self.unparsed_rate}
        if self.subject is not None:
            data["se_subject_clustered"] = self.subject.se
            data["subjects"] = self.subject.clusters
        if self.within_question_var is not None:
            data["within_question_var"] = self.within_question_var
        return data


@dataclass
class RunSummary:
    """Everything `glassboard eval` reports, recomputed from the log (so scorers can change without re-running)."""

    task: str
    model: str
    variant_id: str
    log: Path
    n: int  # scored samples (question x epoch) that ended without a model error
    questions: int
    epochs: int
    errors: int
    error_kinds: dict[str, int]
    unparsed_rate: float | None  # lenient: nothing answer-like found at all
    strict: Score
    lenient: Score
    rescored: int = 0  # records scored again because the scorer changed since they were written
    data_warnings: tuple[DataWarning, ...] = ()  # defects of the data file the run read (not kept in the log)
    records: list[SampleRecord] = field(default_factory=list, repr=False)

    def question_scores(self, scoring: Scoring) -> dict[str, float]:
        """Per question: mean score over its scored epochs."""
        sums: dict[str, list[float]] = defaultdict(list)
        for record in self.records:
            if record.ok:
                sums[record.id].append(1.0 if record.reading(scoring).correct else 0.0)
        return {q: sum(v) / len(v) for q, v in sums.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "model": self.model, "variant_id": self.variant_id, "n": self.n,
            "questions": self.questions, "epochs": self.epochs, "errors": self.errors,
            "error_kinds": self.error_kinds, "unparsed_rate": self.unparsed_rate, "log": str(self.log),
            "strict": self.strict.as_dict(), "lenient": self.lenient.as_dict(),
            "data_warnings": [warning.as_dict() for warning in self.data_warnings],
        }


def summarize(log_path: Path | str, keys: Iterable[Key] | None = None) -> RunSummary:
    """Summarise a run log; with `keys`, only those samples (the ones a given invocation asked for)."""
    contents = read_log(Path(log_path))
    return summarize_contents(contents, keys)


def summarize_contents(contents: LogContents[SampleRecord], keys: Iterable[Key] | None = None,
                       kind: AnswerKind | None = None) -> RunSummary:
    """`kind`: the task's answer kind when the task is not built in (a --task-file task)."""
    from glassboard.bench.scoring import SCORER_VERSION, score
    from glassboard.bench.tasks import get_task

    header = contents.header
    kind = kind or get_task(header["task"]).kind
    wanted = set(keys) if keys is not None else None
    # The last record per (sample, epoch): a changed prompt template supersedes older records of the same sample.
    latest: dict[tuple[str, int], SampleRecord] = {}
    for key, record in contents.records.items():
        if wanted is None or key in wanted:
            latest[(key[0], key[1])] = record
    records: list[SampleRecord] = []
    rescored = 0
    for record in latest.values():
        if record.ok and (record.scorer != SCORER_VERSION or record.scored is None):
            scored = score(record.response or "", kind, record.target, record.letters)
            record = dataclasses.replace(record, scored=scored, scorer=SCORER_VERSION)
            rescored += 1
        records.append(record)
    ok = [r for r in records if r.ok]
    errors = Counter(r.error.kind if r.error is not None else "unknown" for r in records if not r.ok)
    questions = [r.id for r in ok]
    clusters = [r.cluster for r in ok]
    has_subjects = bool(ok) and all(c is not None for c in clusters) and len(set(clusters)) > 1
    scores = {}
    for scoring in SCORINGS:
        values = [1.0 if r.reading(scoring).correct else 0.0 for r in ok]
        unparsed = sum(1 for r in ok if r.reading(scoring).answer is None)
        scores[scoring] = Score(
            estimate=clustered_mean_ci(values, questions, proportion=True),
            unparsed_rate=unparsed / len(ok) if ok else None,
            subject=clustered_mean_ci(values, clusters, proportion=True) if has_subjects else None,
            within_question_var=within_question_variance(values, questions),
        )
    variant = header.get("variant", {})
    return RunSummary(
        task=str(header["task"]),
        model=variant.get("name", "?"),
        variant_id=variant.get("id", "?"),
        log=contents.path,
        n=len(ok),
        questions=len(set(questions)),
        epochs=max((r.epoch for r in records), default=0),
        errors=sum(errors.values()),
        error_kinds=dict(errors),
        unparsed_rate=scores["lenient"].unparsed_rate,
        strict=scores["strict"],
        lenient=scores["lenient"],
        rescored=rescored,
        records=records,
    )


def load_run(path: Path | str) -> RunSummary:
    """A run from its log file, or from the JSON summary written by `glassboard eval --json` (which points to it)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"run summary not found: {path}") from None
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"{path}: not a readable JSON summary ({err})") from None
        if not isinstance(data, dict) or not isinstance(data.get("log"), str):
            raise DataError(f"{path}: a glassboard summary needs a 'log' field with the run log's path")
        log = Path(data["log"])
        if not log.is_absolute() and not log.exists():  # a relative path may be relative to the summary file
            log = path.parent / log
        return summarize(log)
    return summarize(path)


@dataclass(frozen=True, slots=True)
class Comparison:
    a: RunSummary
    b: RunSummary
    results: dict[Scoring, PairedDifference]

    def questions_needed(self, scoring: Scoring, delta: float | None = None) -> int | None:
        """Questions needed to detect `delta` (default: the observed difference) at 80% power, from the
        observed spread of per-question differences."""
        result = self.results[scoring]
        delta = delta if delta is not None else result.diff.mean
        sd = result.diff.se * result.n**0.5 if result.diff.se is not None else None
        if not delta or sd is None:
            return None
        return questions_needed(delta, sd_diff=sd)


def compare_runs(a: RunSummary, b: RunSummary) -> Comparison:
    """Paired differences A - B over the questions both runs scored; the runs must use the same data."""
    if a.task != b.task:
        raise DataError(f"the runs are different tasks: {a.task} ({a.log}) vs {b.task} ({b.log})")
    targets_a = {(r.id, r.epoch): r for r in a.records}
    for record in b.records:
        other = targets_a.get((record.id, record.epoch))
        if other is not None and other.prompt_hash != record.prompt_hash:
            raise DataError(
                f"sample '{record.id}' epoch {record.epoch} has different prompts in the two runs "
                "(different data files or prompt templates); they cannot be paired"
            )
    results = {}
    for scoring in SCORINGS:
        try:
            results[scoring] = paired_difference(a.question_scores(scoring), b.question_scores(scoring))
        except ValueError:
            raise DataError(f"the runs share no scored questions: {a.log} and {b.log}") from None
    return Comparison(a, b, results)
