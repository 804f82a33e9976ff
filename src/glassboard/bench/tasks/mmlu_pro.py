"""MMLU-Pro: up to ten options per question; options shuffled per sample and epoch like every multiple-choice task."""

from __future__ import annotations

from typing import ClassVar

from glassboard.bench.data import DataError, HubSource, Row, field, integer, string_list, text
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

    def parse_row(self, row: Row) -> Sample:
        question = field(row, "question", text)
        options = field(row, "options", string_list)
        index = field(row, "answer_index", integer, required=False)
        letter = field(row, "answer", text, required=False)
        if index is None and letter is None:
            raise DataError(f"{row.where}: missing field 'answer_index' (or 'answer' as a letter)")
        if letter is not None:
            letter = letter.strip().upper()
            if len(letter) != 1 or letter not in LETTERS[: len(options)]:
                raise DataError(f"{row.where}: field 'answer' must be a letter A-{LETTERS[len(options) - 1]}, "
                                f"got {letter!r}")
            if index is not None and LETTERS.index(letter) != index:
                raise DataError(f"{row.where}: fields 'answer' ({letter}) and 'answer_index' ({index}) disagree")
            index = LETTERS.index(letter)
        if not 0 <= index < len(options):
            raise DataError(f"{row.where}: field 'answer_index' {index} is outside the {len(options)} options")
        # Some MMLU-Pro rows pad with "N/A" options; they are not real choices.
        kept = [i for i, option in enumerate(options) if option.strip() != "N/A" or i == index]
        choices = tuple(options[i] for i in kept)
        if len(choices) < 2:
            raise DataError(f"{row.where}: field 'options' needs at least two options")
        sample_id = field(row, "question_id", text, required=False) or str(row.index)
        category = field(row, "category", text, required=False)
        return Sample(id=sample_id, question=question, target=options[index], choices=choices,
                      correct=kept.index(index), cluster=category)
