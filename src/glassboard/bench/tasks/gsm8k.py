"""GSM8K: grade-school math word problems; the answer is the number after "####" in the data's `answer` field.

Row rules: a missing question or answer, or an answer without "#### N", skips the row with a warning."""

from __future__ import annotations

import re
from typing import ClassVar

from glassboard.bench.data import DataIssues, HubSource, Row, RowError, field, text
from glassboard.bench.extract import normalise_number
from glassboard.bench.tasks import Sample, Task

TEMPLATE = """Solve the following math problem step by step. The last line of your response should be of the form \
"Answer: N" (without quotes) where N is the final number, with no units or other text.

{question}"""


class GSM8K(Task):
    name: ClassVar[str] = "gsm8k"
    kind = "number"
    hub = HubSource("openai/gsm8k", "main", "test")
    template = TEMPLATE
    description = "GSM8K test split; fields question, answer ('... #### N')"

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        question = field(row, "question", text)
        answer = field(row, "answer", text)
        match = re.search(r"####\s*(.+?)\s*$", answer)
        target = normalise_number(match.group(1)) if match else None
        if target is None:
            raise RowError(row.where, "field 'answer' does not end with '#### N' (a number)")
        sample_id = field(row, "id", text, required=False) or str(row.index)
        return Sample(id=sample_id, question=question, target=target)
