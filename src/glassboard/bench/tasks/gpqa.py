"""GPQA Diamond: four options, the correct one stored first in the data, so shuffling is essential.

Row rules: a missing or empty question or option skips the row with a warning (three options would change the
chance rate); so does a correct answer that is also listed as an incorrect one, which no letter can score.
Options are compared after trimming spaces, which the CSV export leaves around some answers.
"""

from __future__ import annotations

from typing import ClassVar

from glassboard.bench.data import DataIssues, HubSource, Row, RowError, field, text
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

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        question = field(row, "Question", text)
        correct = field(row, "Correct Answer", text).strip()
        wrong = [field(row, f"Incorrect Answer {i}", text).strip() for i in (1, 2, 3)]
        if correct in wrong:
            raise RowError(row.where, f"the correct answer is also 'Incorrect Answer {wrong.index(correct) + 1}'")
        sample_id = field(row, "Record ID", text, required=False) or str(row.index)
        cluster = field(row, "Subdomain", text, required=False) or field(row, "High-level domain", text,
                                                                          required=False)
        return Sample(id=sample_id, question=question, target=correct, choices=(correct, *wrong), correct=0,
                      cluster=cluster)
