"""Benchmark tasks: the sample and prompt types, the shared multiple-choice rendering, and the task registry."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from glassboard.bench.data import DataError, DataIssues, DataWarning, HubSource, Row, RowError, hub_rows, read_rows
from glassboard.bench.extract import AnswerKind
from glassboard.models.types import ConfigError

LETTERS = "ABCDEFGHIJKLMNOP"


@dataclass(frozen=True, slots=True)
class Sample:
    """One question as it is in the data (multiple-choice options in data order)."""

    id: str
    question: str
    target: str  # the number, the expression, or the text of the correct option
    choices: tuple[str, ...] = ()
    correct: int | None = None  # index of the correct option in `choices`
    cluster: str | None = None  # subject / category, for clustered standard errors
    level: int | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    """A sample rendered for one epoch: the exact user message, the answer to extract, and its hash."""

    sample: Sample
    epoch: int
    text: str
    target: str  # the letter after shuffling, or the number / expression
    letters: str  # valid letters for multiple choice ("" otherwise)
    hash: str  # sha256 of `text`, part of the result key


@dataclass(frozen=True, slots=True)
class Dataset:
    samples: list[Sample]
    source: str  # file path or "hf:owner/name"
    sha256: str | None  # of the data file (None for hub data)
    warnings: tuple[DataWarning, ...] = ()  # row defects and the rule applied to each (see bench.data)


class Task:
    """A benchmark: where its data lives, how a row becomes a Sample, and the prompt template."""

    name: ClassVar[str]
    kind: ClassVar[AnswerKind]
    hub: ClassVar[HubSource]
    template: ClassVar[str]
    description: ClassVar[str] = ""
    protocol_data: dict[str, Any] | None = None  # the default protocol of a task declared in a file (bench.taskfile)
    # False for free-text tasks (auto-arena answers, judge verdicts): the runner stores no answer-extraction score.
    scored: ClassVar[bool] = True

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        """The row as a Sample; raise RowError to skip a defective row, or `issues.warn` about a repaired one."""
        raise NotImplementedError

    def keep(self, sample: Sample) -> bool:
        """Filter applied after parsing (e.g. MATH level 5)."""
        return True

    def render(self, sample: Sample, epoch: int) -> Prompt:
        text = self.template.format(question=sample.question.strip())
        return Prompt(sample, epoch, text, sample.target, "", prompt_hash(text))

    def load(self, path: Path | None = None, limit: int | None = None, *, strict: bool = False) -> Dataset:
        """Samples from `path` (JSONL/CSV/Parquet with the hub's field names) or from the hub; the first `limit`.

        Defective rows are skipped with a warning (kept in `Dataset.warnings`); `strict` makes the first one a
        DataError. Parsing stops once `limit` samples are kept, so warnings only concern the rows read."""
        issues = DataIssues(strict=strict)
        if path is not None:
            rows, digest = read_rows(path, issues)
            source = str(path)
        else:
            rows, digest, source = hub_rows(self.hub), None, f"hf:{self.hub.dataset}"
        samples: list[Sample] = []
        seen: dict[str, str] = {}
        for row in rows:
            if limit is not None and len(samples) >= limit:
                break
            try:
                sample = self.parse_row(row, issues)
                if sample.id in seen:
                    raise RowError(row.where, f"duplicate sample id '{sample.id}' (the first, at {seen[sample.id]}, "
                                              "is kept)")
            except RowError as err:
                issues.skip(err)
                continue
            seen[sample.id] = row.where
            if self.keep(sample):
                samples.append(sample)
        if not samples:
            first = f"; first data warning: {issues.warnings[0]}" if issues.warnings else ""
            raise DataError(f"{source}: no samples left for task {self.name} ({self.description}){first}")
        return Dataset(samples, source, digest, tuple(issues.warnings))


class MultipleChoiceTask(Task):
    """Options are shuffled per sample and epoch with a seed from (sample id, epoch), never global random state."""

    kind: ClassVar[AnswerKind] = "letter"
    shuffle: ClassVar[bool] = True

    def render(self, sample: Sample, epoch: int) -> Prompt:
        assert sample.correct is not None
        order = list(range(len(sample.choices)))
        if self.shuffle:
            random.Random(shuffle_seed(sample.id, epoch)).shuffle(order)
        letters = LETTERS[: len(order)]
        options = "\n".join(f"{letters[i]}) {sample.choices[j].strip()}" for i, j in enumerate(order))
        text = self.template.format(question=sample.question.strip(), options=options, letters=letters)
        target = letters[order.index(sample.correct)]
        return Prompt(sample, epoch, text, target, letters, prompt_hash(text))


def shuffle_seed(sample_id: str, epoch: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{sample_id}|{epoch}".encode()).digest()[:8], "big")


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def registry() -> dict[str, Task]:
    """Task name -> task (imported here so each task module stays one small file)."""
    from glassboard.bench.tasks.gpqa import GPQADiamond
    from glassboard.bench.tasks.gsm8k import GSM8K
    from glassboard.bench.tasks.math500 import Math500, MathLevel5
    from glassboard.bench.tasks.mmlu_pro import MMLUPro

    return {task.name: task for task in (GSM8K(), Math500(), MathLevel5(), MMLUPro(), GPQADiamond())}


ALIASES = {"math-500": "math500", "math": "math500", "mathl5": "math-l5", "math-level5": "math-l5",
           "mmlu_pro": "mmlu-pro", "mmlupro": "mmlu-pro", "gpqa": "gpqa-diamond", "gpqa_diamond": "gpqa-diamond"}


def get_task(name: str) -> Task:
    tasks = registry()
    key = ALIASES.get(name.lower(), name.lower())
    if key not in tasks:
        raise ConfigError(f"unknown task '{name}'; known tasks: {', '.join(tasks)}")
    return tasks[key]
