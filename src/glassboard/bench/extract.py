"""Answer extraction in plain sight: one strict pattern per answer kind and a documented, ordered lenient ladder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

AnswerKind = Literal["letter", "number", "math"]

# Bump when a pattern or a normalisation changes: summaries re-score stored generations from an older version.
EXTRACTOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one scoring read out of a response: the answer (None = unparsed) and the id of the pattern used."""

    answer: str | None
    pattern: str | None


@dataclass(frozen=True, slots=True)
class Rung:
    """One step of a ladder: an id, what it accepts (for docs and reports), and its regex (group 1 = answer)."""

    id: str
    description: str
    regex: re.Pattern[str]


# "Answer" in other languages, for answer lines like "Respuesta: C" (the prompt asked for English "Answer:").
ANSWER_WORDS_I18N = (
    "Respuesta", "Réponse", "Reponse", "Antwort", "Risposta", "Resposta", "Ответ", "Відповідь", "Odpowiedź",
    "Antwoord", "Svar", "Vastaus", "Cevap", "Jawaban", "Javob", "Απάντηση", "תשובה", "الإجابة", "الجواب",
    "उत्तर", "উত্তর", "คำตอบ", "Đáp án", "Câu trả lời", "答案", "回答", "答", "解答", "정답", "답",
)
_I18N = "|".join(re.escape(w) for w in sorted(ANSWER_WORDS_I18N, key=len, reverse=True))
_COLON = r"\s*[:：]"
_LEAD = r"[ \t*_>#`-]*"  # markdown before a label: "**Answer:**", "> Answer:", "### Answer:", "- Answer:"
_DECOR = r"[ \t*_`]*"  # markdown after it (no "-": it would eat a minus sign)
_LABEL = rf"(?im:^){_LEAD}(?i:final\s+)?(?i:answer){_DECOR}{_COLON}{_DECOR}"
_LABEL_I18N = rf"(?m:^){_LEAD}(?:{_I18N})(?:\s*\(?[A-Za-z]+\)?)?{_DECOR}{_COLON}{_DECOR}"
_ANSWER_IS = (
    r"(?i:\b(?:the\s+)?(?:best|correct|right|final|most\s+likely)?\s*(?:answer|option|choice)"
    r"\s+(?:is|would\s+be|should\s+be|will\s+be)\s*:?)"
)
_LETTER = r"[(\[]?([A-Z])[)\]]?"
_LETTER_ANY_CASE = r"[(\[]?([A-Za-z])[)\]]?"  # only after an answer label, where "a" cannot be an article
_NUM = r"-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\$?\s?\.\d+"

# Strict: only the format the prompt asked for, "Answer: X" alone on its line (markdown or other words fail).
STRICT: dict[AnswerKind, Rung] = {
    "letter": Rung("strict", 'a line "Answer: X" with X a valid letter', re.compile(r"(?m)^Answer: ?([A-Z])[ \t]*$")),
    "number": Rung(
        "strict", 'a line "Answer: N" with N a plain number (thousands commas allowed)',
        re.compile(r"(?m)^Answer: ?(-?\d[\d,]*(?:\.\d+)?)[ \t]*$"),
    ),
    "math": Rung("strict", 'a line "Answer: EXPR"', re.compile(r"(?m)^Answer: ?(\S.*?)[ \t]*$")),
}

# Lenient ladders: the first rung that matches wins; within a rung the last match in the response wins.
LENIENT: dict[AnswerKind, tuple[Rung, ...]] = {
    "letter": (
        Rung("answer_line", 'an "Answer: X" line with markdown or brackets ("**Answer:** (C)")',
             re.compile(_LABEL + _LETTER_ANY_CASE + r"(?![A-Za-z0-9])")),
        Rung("answer_line_i18n", 'an answer line in another language ("Respuesta: C", "答案：C")',
             re.compile(_LABEL_I18N + _LETTER_ANY_CASE + r"(?![A-Za-z0-9])")),
        Rung("answer_is", '"the best answer is A", "the answer is (B)", "the correct option is **C**"',
             re.compile(_ANSWER_IS + r"[ \t*_]*(?i:(?:option|choice)\s+)?" + _LETTER + r"(?![A-Za-z0-9])")),
        Rung("boxed", r"\boxed{C} or \boxed{\text{C}}",
             re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{\s*)?\(?([A-Z])\)?\s*\}?\s*\}")),
        Rung("bold", 'a bold letter: "**C**", "**(C)**", "**C)** Paris", "**C. Paris**"',
             re.compile(r"\*\*\s*\(?([A-Z])(?:\)|\.|:|\s*\*\*)")),
        Rung("last_letter", "the last standalone valid letter (not 'A'/'I' used as a word)",
             re.compile(r"(?<![A-Za-z0-9'’])\(?([A-Z])\)?(?![A-Za-z0-9'’])")),
    ),
    "number": (
        Rung("answer_line", 'an "Answer: N" line with markdown, units or a currency sign ("**Answer:** $1,200")',
             re.compile(_LABEL + r"[^\d\n-]{0,20}?(" + _NUM + ")")),
        Rung("answer_line_i18n", 'an answer line in another language ("Respuesta: 18")',
             re.compile(_LABEL_I18N + r"[^\d\n-]{0,20}?(" + _NUM + ")")),
        Rung("hashes", 'GSM8K\'s own "#### N"', re.compile(r"####\s*(" + _NUM + ")")),
        Rung("answer_is", '"the (final) answer is N"', re.compile(_ANSWER_IS + r"[^\d\n-]{0,20}?(" + _NUM + ")")),
        Rung("boxed", r"\boxed{N}", re.compile(r"\\boxed\{[^{}\d-]{0,20}?(" + _NUM + ")")),
        Rung("bold", 'a bold number: "**18**", "**$18.00**"',
             re.compile(r"\*\*[^*\n\d-]{0,20}?(" + _NUM + r")[^*\n]{0,20}\*\*")),
        Rung("last_number", "the last number in the response", re.compile(r"(" + _NUM + ")")),
    ),
    "math": (
        Rung("answer_line", 'an "Answer: EXPR" line with markdown ("**Final Answer:** $\\frac12$")',
             re.compile(_LABEL + r"(\S.*?)[ \t]*$", re.MULTILINE)),
        Rung("answer_line_i18n", 'an answer line in another language ("Respuesta: 7")',
             re.compile(_LABEL_I18N + r"(\S.*?)[ \t]*$", re.MULTILINE)),
        Rung("boxed", r"the last \boxed{...} or \fbox{...} (nested braces allowed)", re.compile(r"\\(?:boxed|fbox)\{")),
        Rung("answer_is", '"the final answer is EXPR" up to the end of the sentence',
             re.compile(_ANSWER_IS + r"[ \t]*(\$[^$\n]+\$|[^\n]+?)(?:\.?[ \t]*$|\.\s)", re.MULTILINE)),
        Rung("last_math", r"the last inline math $...$, \(...\) or \[...\]",
             re.compile(r"\$\$(.+?)\$\$|\$([^$]+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)),
    ),
}


def strict(text: str, kind: AnswerKind, letters: str = "") -> Extraction:
    """The strict reading: every "Answer: X" line must agree (two different answers = unparsed)."""
    rung = STRICT[kind]
    found = {answer for m in rung.regex.finditer(text) if (answer := _normalise(m.group(1), kind)) is not None}
    if kind == "letter":
        found = {f for f in found if f in letters}
    if len(found) != 1:
        return Extraction(None, "conflict" if len(found) > 1 else None)
    return Extraction(found.pop(), rung.id)


def lenient(text: str, kind: AnswerKind, letters: str = "") -> Extraction:
    """The lenient reading: walk the ladder, first rung with a valid match wins (its last match)."""
    for rung in LENIENT[kind]:
        answer = _last_valid(rung, text, kind, letters)
        if answer is not None:
            return Extraction(answer, rung.id)
    return Extraction(None, None)


def _last_valid(rung: Rung, text: str, kind: AnswerKind, letters: str) -> str | None:
    if rung.id == "boxed" and kind == "math":
        return _normalise(last_boxed(text), kind)
    if kind == "letter":
        for match in reversed(list(rung.regex.finditer(text))):
            letter = match.group(1).upper()
            # "A"/"I" + a lower-case word is an article or pronoun in running text; after a label only "a" is.
            word_check = rung.id == "last_letter" or match.group(1) == "a"
            if letter in letters and not (word_check and _is_word(text, match)):
                return letter
        return None
    for match in reversed(list(rung.regex.finditer(text))):
        value = next((g for g in match.groups() if g is not None), None)
        answer = _normalise(value, kind)
        if answer is not None:
            return answer
    return None


def _is_word(text: str, match: re.Match[str]) -> bool:
    """'A', 'a' or 'I' followed by a lower-case word is an article or pronoun ("A train leaves", "I think")."""
    end = match.end(1)
    return match.group(1) in ("A", "a", "I") and re.match(r"\s+[a-z]", text[end:end + 3]) is not None


def last_boxed(text: str) -> str | None:
    """Contents of the last \\boxed{...} (or \\fbox{...}), with nested braces; None when absent or unbalanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None


def _normalise(value: str | None, kind: AnswerKind) -> str | None:
    if value is None:
        return None
    if kind == "letter":
        return value.strip().upper() or None
    if kind == "number":
        return normalise_number(value)
    return clean_math(value)


def normalise_number(value: str) -> str | None:
    """'$1,234.50' -> '1234.5', '18.00' -> '18', '-3' -> '-3'; None when there is no number."""
    cleaned = value.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        number = float(cleaned)
    except ValueError:
        return None
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def clean_math(value: str) -> str | None:
    """Strip what surrounds a math answer: \\boxed{}, $...$, \\(...\\), a trailing period, bold markers."""
    text = value.strip()
    boxed = last_boxed(text)
    if boxed is not None:
        text = boxed
    text = text.strip().strip("*").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right) - 1:
            text = text[len(left):len(text) - len(right)].strip()
            break
    text = text.rstrip(".").strip()
    assignment = re.fullmatch(r"[A-Za-z]\s*=\s*([^=<>]+)", text)  # "x = 3" answers "3"
    if assignment:
        text = assignment.group(1).strip()
    return text or None


def ladder_table() -> list[tuple[str, str, str]]:
    """(kind, pattern id, description) for every rung, strict first: for docs and `--help` texts."""
    rows: list[tuple[str, str, str]] = []
    for kind in ("letter", "number", "math"):
        rows.append((kind, STRICT[kind].id, STRICT[kind].description))
        rows.extend((kind, rung.id, rung.description) for rung in LENIENT[kind])
    return rows
