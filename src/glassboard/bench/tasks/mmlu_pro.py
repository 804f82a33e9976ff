"""MMLU-Pro: up to ten options per question; options shuffled per sample and epoch like every multiple-choice task.

Row rules (real exports have these defects):
- `answer` (a letter) and `answer_index` disagree (question_id 3983 of the test split): the letter wins, as in the
  official MMLU-Pro scorer, which compares predictions with `answer`; the row is kept with a warning.
- "N/A" padding options are not choices and are dropped silently; empty options are dropped with a warning.
- Options that are not a list, an answer outside the options, an empty correct option or fewer than two options
  left skip the row with a warning.
"""

from __future__ import annotations

from typing import ClassVar

from glassboard.bench.data import DataIssues, HubSource, Row, RowError, field, integer, string_list, text
from glassboard.bench.tasks import LETTERS, MultipleChoiceTask, Sample

TEMPLATE = """Answer the following multiple-choice question. Think step by step, then finish with a line of the \
form "Answer: X" (without quotes) where X is one of the letters {letters}.

Question: {question}

{options}"""


class MMLUPro(MultipleChoiceTask):
    name: ClassVar[str] = "mmlu-pro"
    hub = HubSource("TIGER-Lab/MMLU-Pro", None, "test")
    template = TEMPLATE
    description = "MMLU-Pro test split; fields question_id, question, options, answer, answer_index, category"

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        question = field(row, "question", text)
        options = field(row, "options", string_list)
        index = field(row, "answer_index", integer, required=False)
        letter = field(row, "answer", text, required=False)
        if index is None and letter is None:
            raise RowError(row.where, "missing field 'answer_index' (or 'answer' as a letter)")
        if letter is not None:
            letter = letter.strip().upper()
            if len(letter) != 1 or letter not in LETTERS[: len(options)]:
                raise RowError(row.where, f"field 'answer' must be a letter A-{LETTERS[len(options) - 1]}, "
                                          f"got {letter!r}")
            if index is not None and LETTERS.index(letter) != index:
                issues.warn(row.where, f"fields 'answer' ({letter}) and 'answer_index' ({index}) disagree; the "
                                       "'answer' letter is used, as in the official MMLU-Pro scorer")
            index = LETTERS.index(letter)
        if not 0 <= index < len(options):
            raise RowError(row.where, f"field 'answer_index' {index} is outside the {len(options)} options")
        if not options[index].strip():
            raise RowError(row.where, f"the correct option ({LETTERS[index]}) is empty")
        empty = [LETTERS[i] for i, option in enumerate(options) if not option.strip()]
        if empty:
            issues.warn(row.where, f"empty option(s) {', '.join(empty)} dropped")
        # MMLU-Pro pads with "N/A" options: they are not real choices.
        kept = [i for i, option in enumerate(options) if option.strip() not in ("", "N/A") or i == index]
        choices = tuple(options[i] for i in kept)
        if len(choices) < 2:
            raise RowError(row.where, "field 'options' needs at least two non-empty options")
        sample_id = field(row, "question_id", text, required=False) or str(row.index)
        category = field(row, "category", text, required=False)
        return Sample(id=sample_id, question=question, target=options[index], choices=choices,
                      correct=kept.index(index), cluster=category)
