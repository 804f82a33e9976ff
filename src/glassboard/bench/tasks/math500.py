"""MATH-500 (and MATH Level 5): competition math with LaTeX answers, compared with math-verify.

Row rules: a missing problem, no answer (nor a \\boxed{} one in the solution) or a level without a number skips
the row with a warning."""

from __future__ import annotations

import re
from typing import ClassVar

from glassboard.bench.data import DataIssues, HubSource, Row, RowError, field, text
from glassboard.bench.extract import clean_math, last_boxed
from glassboard.bench.tasks import Sample, Task

TEMPLATE = """Solve the following math problem step by step. The last line of your response should be of the form \
"Answer: X" (without quotes) where X is the final answer as a LaTeX expression (no \\boxed, no units).

{question}"""


class Math500(Task):
    name: ClassVar[str] = "math500"
    kind = "math"
    hub = HubSource("HuggingFaceH4/MATH-500", None, "test")
    template = TEMPLATE
    description = "MATH-500; fields problem, answer (or solution with \\boxed{}), subject, level, unique_id"

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        problem = field(row, "problem", text)
        answer = field(row, "answer", text, required=False)
        if answer is None:  # the full MATH data has no answer field: the answer is the solution's last \boxed{}
            solution = field(row, "solution", text, required=False)
            if solution is None:
                raise RowError(row.where, "missing field 'answer' (and no 'solution' to take \\boxed{} from)")
            answer = last_boxed(solution)
            if answer is None:
                raise RowError(row.where, "field 'solution' has no \\boxed{...} answer")
        target = clean_math(answer)
        if target is None:
            raise RowError(row.where, "field 'answer' is empty")
        sample_id = field(row, "unique_id", text, required=False) or str(row.index)
        subject = field(row, "subject", text, required=False) or field(row, "type", text, required=False)
        return Sample(id=sample_id, question=problem, target=target, cluster=subject, level=_level(row))


class MathLevel5(Math500):
    """The hardest MATH problems: rows whose `level` is 5 (MATH-500 stores 5, full MATH stores "Level 5")."""

    name: ClassVar[str] = "math-l5"
    description = "MATH problems with level 5 (needs a 'level' field)"

    def keep(self, sample: Sample) -> bool:
        return sample.level == 5

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        if row.values.get("level") is None:
            raise RowError(row.where, "missing field 'level' (task math-l5 keeps level-5 problems only)")
        return super().parse_row(row, issues)


def _level(row: Row) -> int | None:
    value = row.values.get("level")
    if value is None:
        return None
    match = re.search(r"\d+", str(value))
    if match is None:
        raise RowError(row.where, f"field 'level' has no number: {value!r}")
    return int(match.group())
