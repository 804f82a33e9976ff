"""Identity guard: finds registry variant names, aliases and providers named in answers (word-bounded)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_SEPARATORS = re.compile(r"[\s._-]+")
_MIN_LENGTH = 3


def _term_pattern(term: str) -> str:
    """A name as a regex where '-', '_', '.' and spaces are interchangeable ("SmolLM2 135M" = "smollm2-135m")."""
    parts = [re.escape(p) for p in _SEPARATORS.split(term.strip()) if p]
    return r"[\s._-]".join(parts)


class IdentityGuard:
    """Matches any registry name, alias or provider in a text, case-insensitively, on word boundaries."""

    def __init__(self, terms: Iterable[str]):
        cleaned = {t.strip() for t in terms if t and len(t.strip()) >= _MIN_LENGTH}
        self.terms = sorted(cleaned, key=lambda t: (-len(t), t.lower()))
        body = "|".join(_term_pattern(t) for t in self.terms)
        self._pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{body})(?![A-Za-z0-9_])", re.IGNORECASE) if body else None

    @classmethod
    def from_variants(cls, variants: Iterable[Any], extra: Iterable[str] = ()) -> IdentityGuard:
        """Names, aliases and providers of registry variants (plus any `extra` names, e.g. stored variants)."""
        terms: list[str] = list(extra)
        for variant in variants:
            terms.extend(variant.names())
            terms.append(variant.provider)
        return cls(terms)

    def find(self, text: str) -> list[str]:
        """The names found in `text` (as written there), in order of appearance, without repeats."""
        if self._pattern is None or not text:
            return []
        found: list[str] = []
        for match in self._pattern.finditer(text):
            if match.group(0) not in found:
                found.append(match.group(0))
        return found

    def check_answers(self, *conversations: Sequence[Mapping[str, Any]]) -> list[str]:
        """Names found in the assistant messages of the conversations (user prompts never count)."""
        found: list[str] = []
        for conversation in conversations:
            for message in conversation:
                if message.get("role") == "assistant" and isinstance(message.get("content"), str):
                    found.extend(n for n in self.find(message["content"]) if n not in found)
        return found
