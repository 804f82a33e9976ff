"""Strict and lenient extraction on a table of real-world answer formats, and answer comparison (math-verify)."""

from __future__ import annotations

import pytest

from glassboard.bench.extract import LENIENT, STRICT, ladder_table, lenient, strict
from glassboard.bench.scoring import is_correct, math_equal, score

# (response, strict answer, lenient answer, lenient pattern id) for four-option questions.
LETTER_CASES = [
    ("Let me think.\nAnswer: C", "C", "C", "answer_line"),
    ("The best answer is A", None, "A", "answer_is"),  # what Artificial Analysis had to accept for Llama 4
    ("The best answer is A.", None, "A", "answer_is"),
    ("the correct answer is (B) because it conserves energy", None, "B", "answer_is"),
    ("So the correct option is **D**.", None, "D", "answer_is"),
    ("**Answer:** (B)", None, "B", "answer_line"),
    ("**Answer: C**", None, "C", "answer_line"),
    ("### Final Answer: D", None, "D", "answer_line"),
    ("Answer: C\n\nAnswer: C", "C", "C", "answer_line"),  # written twice, same letter: fine for both
    ("Answer: A\nWait, no.\nAnswer: B", None, "B", "answer_line"),  # two different answers: strict refuses
    ("Respuesta: D", None, "D", "answer_line_i18n"),  # an answer line in Spanish
    ("Réponse : B", None, "B", "answer_line_i18n"),
    ("答案：C", None, "C", "answer_line_i18n"),
    ("Ответ: A", None, "A", "answer_line_i18n"),
    ("Therefore $\\boxed{C}$", None, "C", "boxed"),
    ("Final: \\boxed{\\text{B}}", None, "B", "boxed"),
    ("I'd go with **B) 42 m/s** here.", None, "B", "bold"),
    ("Option **(D)** fits.", None, "D", "bold"),
    ("A train leaves at noon. I think it is C", None, "C", "last_letter"),
    ("(B)", None, "B", "last_letter"),
    ("Answer: c", None, "C", "answer_line"),  # lower-case letter after the label
    ("Answer: E", None, None, None),  # not one of the four options
    ("A good question; I am not sure.", None, None, None),  # articles and pronouns are not answers
    ("", None, None, None),
]

NUMBER_CASES = [
    ("Step 1 ... so 18.\nAnswer: 18", "18", "18", "answer_line"),
    ("Answer: 1,234", "1234", "1234", "answer_line"),
    ("Answer: 18.00", "18", "18", "answer_line"),
    ("Answer: -7", "-7", "-7", "answer_line"),
    ("**Answer:** $1,200", None, "1200", "answer_line"),
    ("Answer: 18 dollars", None, "18", "answer_line"),
    ("Antwort: 42", None, "42", "answer_line_i18n"),
    ("She has 9 eggs and sells them for $2.\n#### 18", None, "18", "hashes"),
    ("The final answer is 42.", None, "42", "answer_is"),
    ("So the answer is $3.50 per hour.", None, "3.5", "answer_is"),
    ("We get \\boxed{72}.", None, "72", "boxed"),
    ("Total: **$18.00**", None, "18", "bold"),
    ("16 - 3 - 4 = 9, and 9 * 2 = 18", None, "18", "last_number"),
    ("Answer: 5\nAnswer: 6", None, "6", "answer_line"),
    ("I cannot solve this.", None, None, None),
]

MATH_CASES = [
    ("Working...\nAnswer: \\frac{1}{2}", "\\frac{1}{2}", "\\frac{1}{2}", "answer_line"),
    ("Answer: $\\frac{1}{2}$", "\\frac{1}{2}", "\\frac{1}{2}", "answer_line"),
    ("Thus the answer is $\\boxed{\\frac{\\sqrt{3}}{2}}$.", None, "\\frac{\\sqrt{3}}{2}", "boxed"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", None, "\\left( 3, \\frac{\\pi}{2} \\right)", "boxed"),
    ("**Final Answer:** $x = 3$", None, "3", "answer_line"),
    ("So the final answer is $7$.", None, "7", "answer_is"),
    ("we find $a = 2$ and then $b + 1$", None, "b + 1", "last_math"),
    ("no idea", None, None, None),
]


@pytest.mark.parametrize(("text", "want_strict", "want_lenient", "pattern"), LETTER_CASES)
def test_letters(text: str, want_strict: str | None, want_lenient: str | None, pattern: str | None) -> None:
    assert strict(text, "letter", "ABCD").answer == want_strict
    got = lenient(text, "letter", "ABCD")
    assert (got.answer, got.pattern) == (want_lenient, pattern)


@pytest.mark.parametrize(("text", "want_strict", "want_lenient", "pattern"), NUMBER_CASES)
def test_numbers(text: str, want_strict: str | None, want_lenient: str | None, pattern: str | None) -> None:
    assert strict(text, "number").answer == want_strict
    got = lenient(text, "number")
    assert (got.answer, got.pattern) == (want_lenient, pattern)


@pytest.mark.parametrize(("text", "want_strict", "want_lenient", "pattern"), MATH_CASES)
def test_math(text: str, want_strict: str | None, want_lenient: str | None, pattern: str | None) -> None:
    assert strict(text, "math").answer == want_strict
    got = lenient(text, "math")
    assert (got.answer, got.pattern) == (want_lenient, pattern)


def test_strict_conflict_is_reported() -> None:
    assert strict("Answer: A\nAnswer: B", "letter", "ABCD").pattern == "conflict"


def test_ten_letter_questions_accept_j() -> None:
    assert strict("Answer: J", "letter", "ABCDEFGHIJ").answer == "J"
    assert lenient("The answer is (I)", "letter", "ABCDEFGHIJ").answer == "I"
    assert lenient("I think so", "letter", "ABCDEFGHIJ").answer is None  # "I" the pronoun


def test_score_records_both_readings_of_one_generation() -> None:
    result = score("Reasoning.\nThe best answer is B", "letter", "B", "ABCD")
    assert result.to_json() == {
        "format_ok": False,
        "strict": {"answer": None, "pattern": None, "correct": False},
        "lenient": {"answer": "B", "pattern": "answer_is", "correct": True},
    }
    both = score("Answer: A", "letter", "B", "ABCD")
    assert both.format_ok and not both.strict.correct and not both.lenient.correct


@pytest.mark.parametrize(("answer", "target", "equal"), [
    ("\\frac{1}{2}", "0.5", True),
    ("\\dfrac{14}{3}", "\\frac{14}{3}", True),
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("x^2+1", "1+x^2", True),
    ("5", "6", False),
    ("\\frac{1}{3}", "0.33", False),
])
def test_math_equivalence(answer: str, target: str, equal: bool) -> None:
    assert math_equal(answer, target) is equal


def test_number_equivalence() -> None:
    assert is_correct("number", "18", "18") and is_correct("number", "18.0", "18")
    assert not is_correct("number", "18.5", "18") and not is_correct("number", "n/a", "18")


def test_every_rung_is_documented() -> None:
    rows = ladder_table()
    assert len(rows) == len(STRICT) + sum(len(rungs) for rungs in LENIENT.values())
    assert all(description for _, _, description in rows)
    for rungs in LENIENT.values():
        ids = [rung.id for rung in rungs]
        assert len(ids) == len(set(ids))


def test_docs_list_every_rung() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "bench.md").read_text(encoding="utf-8")
    for kind, rung_id, _ in ladder_table():
        assert f"| {kind} | {rung_id} |" in docs, f"docs/bench.md does not list {kind}/{rung_id}"
