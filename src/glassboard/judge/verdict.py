"""The judge prompt (versioned by its hash) and strict parsing of the judge's 5-point verdict.

A judge sees one user question and two answers, A and B, and must end with exactly one verdict label in double
brackets: [[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]]. Parsing is strict on purpose: no label, or two
different labels, is *unparsable*: the judgment is counted and excluded, never guessed (a guessed verdict is a
bias we would then measure as the judge's).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from glassboard.schema import GlassboardError

Verdict = Literal["A>>B", "A>B", "A=B", "B>A", "B>>A"]
VERDICTS: Final[tuple[Verdict, ...]] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
# Signed strength from position A's point of view (+2: A much better ... -2: B much better).
STRENGTH: Final[dict[str, int]] = {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}
_LABEL = re.compile(r"\[\[\s*(A\s*>>\s*B|A\s*>\s*B|A\s*=\s*B|B\s*>\s*A|B\s*>>\s*A)\s*\]\]")

# The default judge prompt: our own wording. {question}, {answer_a} and {answer_b} are filled in; nothing else is.
DEFAULT_TEMPLATE: Final = """You are grading two answers to the same user request. Judge which answer serves the \
user better: correct, complete, clear and to the point. Length is not a merit in itself; do not let the order of \
the answers influence you.

[User request]
{question}
[End of user request]

[Answer A]
{answer_a}
[End of answer A]

[Answer B]
{answer_b}
[End of answer B]

Explain your reasoning briefly, then finish with exactly one verdict label on its own line:
[[A>>B]] A is much better, [[A>B]] A is better, [[A=B]] about the same, [[B>A]] B is better, [[B>>A]] B is \
much better."""

FIELDS: Final = ("question", "answer_a", "answer_b")


class JudgeError(GlassboardError):
    """A bad judge configuration or input (judge prompt file, prompts file, models); the message names it."""


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    """A judge prompt template and its hash (stored on every judged battle: a new wording is a new judge)."""

    template: str
    source: str = "built-in"

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()[:16]

    def render(self, question: str, answer_a: str, answer_b: str) -> str:
        # str.replace, not str.format: answers full of braces (code) must pass through untouched.
        return (self.template.replace("{question}", question).replace("{answer_a}", answer_a)
                .replace("{answer_b}", answer_b))

    @classmethod
    def load(cls, path: Path | None) -> JudgePrompt:
        """The template in `path` (must contain {question}, {answer_a} and {answer_b}), else the built-in one."""
        if path is None:
            return cls(DEFAULT_TEMPLATE)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise JudgeError(f"judge prompt file {path}: cannot read it ({err.strerror or err})") from None
        except UnicodeDecodeError:
            raise JudgeError(f"judge prompt file {path}: not UTF-8 text") from None
        missing = [name for name in FIELDS if "{" + name + "}" not in text]
        if missing:
            raise JudgeError(f"judge prompt file {path}: missing placeholder(s) "
                             f"{', '.join('{' + m + '}' for m in missing)}")
        return cls(text, str(path))


def parse_verdict(text: str | None) -> Verdict | None:
    """The verdict label in a judge's answer, or None when there is none or two different ones (unparsable)."""
    if not text:
        return None
    found = {re.sub(r"\s+", "", m) for m in _LABEL.findall(text)}
    if len(found) != 1:
        return None
    return found.pop()  # type: ignore[return-value]
