"""GPQA Diamond: four options, the correct one stored first in the data, so shuffling is essential."""

from __future__ import annotations

from typing import ClassVar

from glassboard.bench.data import HubSource, Row, field, text
from glassboard.bench.tasks import MultipleChoiceTask, Sample

TEMPLATE = """Answer the following multiple-choice question. Think step by step, then finish with a line of the \
form "Answer: X" (without quotes) where X is one of the letters {letters}.

Question: {question}

{options}"""


class GPQADiamond(MultipleChoiceTask):
    name: ClassVar[str] = "gpqa-diamond"
    hub = HubSource("Idavidrein/gpqa", "gpqa_diamond", "train")
    template = TEMPLATE
    description = ('GPQA Diamond (gated on the hub); fields Question, "Correct Answer", "Incorrect Answer 1".."3", '
                   '"Record ID", "Subdomain"')

    def parse_row(self, row: Row) -> Sample:
        question = field(row, "Question", text)
        correct = field(row, "Correct Answer", text)
        wrong = [field(row, f"Incorrect Answer {i}", text) for i in (1, 2, 3)]
        sample_id = field(row, "Record ID", text, required=False) or str(row.index)
        cluster = field(row, "Subdomain", text, required=False) or field(row, "High-level domain", text,
                                                                          required=False)
        return Sample(id=sample_id, question=question, target=correct, choices=(correct, *wrong), correct=0,
                      cluster=cluster)
