"""Identity guard: does an answer tell the voter which model wrote it? Then the vote is flagged, kept, not rated.

It matches what the voter reads, not the raw markdown: answers are rendered to visible text (`Renderer.visible_text`:
`**alpha**-7b`, `alpha\\-7b` and `[alpha](url)-7b` all read "alpha-7b"; link targets are checked too), then
normalised: NFKC (full-width letters, non-breaking spaces and hyphens become plain ones), invisible characters
removed (zero-width spaces and joiners, soft hyphens, word joiners, BOM, bidi controls, tag characters, variation
selectors, Hangul fillers), dash and minus variants folded to "-", curly apostrophes to "'", then case-folded.

Two kinds of terms, chosen so ordinary text is not flagged:
- Registry names and aliases (every variant ever stored) are flagged anywhere in an answer: they are specific.
- Model families and vendors (the packaged list `identity_terms.toml`, operator files added with
  `--identity-terms`, and the providers of registry variants) only in self-identification: "I am / I'm / my name
  is / call me / you are talking to FAMILY", "As FAMILY,", "I was trained / made / developed ... by VENDOR",
  "I'm an AI assistant from VENDOR", "my creators at VENDOR". So "search it on Google" or "Meta released Llama 3"
  is not flagged, while "As GPT-4, made by OpenAI" is.
Names shorter than 3 characters are ignored. "-", "_", "." and spaces inside a term match each other.
Not covered: look-alike letters from other scripts (Cyrillic "а" for Latin "a"), names spelled out letter by letter.
"""

from __future__ import annotations

import re
import threading
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glassboard.arena.render import Renderer
from glassboard.models.types import ConfigError
from glassboard.schema import IDENTITY_FLAG

__all__ = ["IDENTITY_FLAG", "IdentityGuard", "IdentityTerms", "load_identity_terms", "normalise"]

BUILTIN_TERMS = Path(__file__).with_name("identity_terms.toml")
_MIN_LENGTH = 3
_SEPARATORS = re.compile(r"[\s._-]+")
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e0fff]"
)
_FOLD = str.maketrans({**dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d", "-"),
                       **dict.fromkeys("\u2018\u2019\u201b\u02bc\u2032\uff07", "'")})
# Self-identification (on normalised text). FILLER: the few words that may stand between "I am" and a name.
_FILLER = (r"(?:(?:a|an|the|just|only|simply|here|ai|an ai|language|large|small|open|source|open-source|model|"
           r"assistant|chatbot|bot|conversational|helpful|virtual|multimodal|system|version|variant|of|called|named|"
           r"known|as|based|on|powered|by|built|running|on)\s+)*?")
_INTRO = r"(?:i\s+am|i'm|im|i\s+was|i've\s+been|i\s+have\s+been|this\s+is|my\s+name\s+is|call\s+me|" \
         r"you(?:'re|\s+are)\s+(?:talking|chatting|speaking)\s+(?:to|with))"
_ORIGIN = r"(?:(?:created|made|developed|trained|built|designed|programmed|engineered|released|produced|" \
          r"fine-tuned|finetuned|owned|provided|brought\s+to\s+you)\s+by|from|by)"
_TEAM = r"(?:the\s+)?(?:(?:team|folks|people|engineers|researchers|developers)\s+(?:at|of)\s+)?"


def normalise(text: str) -> str:
    """NFKC, invisible characters removed, dashes and apostrophes folded, case-folded."""
    text = unicodedata.normalize("NFKC", text)
    return _INVISIBLE.sub("", text).translate(_FOLD).casefold()


def _key(term: str) -> str:
    return _SEPARATORS.sub(" ", normalise(term)).strip()


def _alternation(terms: Iterable[str]) -> str:
    """Terms as one regex alternation (longest first), separators interchangeable."""
    keys = sorted({_key(t) for t in terms if len(_key(t)) >= _MIN_LENGTH}, key=lambda k: (-len(k), k))
    return "|".join(r"[\s._-]+".join(re.escape(p) for p in k.split(" ")) for k in keys)


@dataclass(frozen=True)
class IdentityTerms:
    """Model families and vendors that count only when an answer identifies itself as (made by) one of them."""

    families: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()


def load_identity_terms(extra_files: Iterable[str | Path] = ()) -> IdentityTerms:
    """The packaged list plus operator files (TOML: `families = [...]`, `vendors = [...]`)."""
    families: list[str] = []
    vendors: list[str] = []
    for path in (BUILTIN_TERMS, *map(Path, extra_files)):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"identity terms file not found: {path}") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"identity terms file {path}: {err}") from None
        unknown = sorted(set(data) - {"families", "vendors"})
        if unknown:
            raise ConfigError(f"identity terms file {path}: unknown key {unknown[0]!r} (use families, vendors)")
        for key, out in (("families", families), ("vendors", vendors)):
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(f"identity terms file {path}: field {key!r} must be a list of non-empty strings")
            out.extend(value)
    return IdentityTerms(tuple(families), tuple(vendors))


class IdentityGuard:
    """Finds registry names anywhere, and families/vendors in self-identification, in what the voter reads."""

    CACHE = 4096

    def __init__(self, names: Iterable[str], families: Iterable[str] = (), vendors: Iterable[str] = (),
                 renderer: Renderer | None = None):
        self._renderer = renderer or Renderer()
        names, families, vendors = list(names), list(families), list(vendors)
        self._canonical = {_key(t): t.strip() for t in [*vendors, *families, *names] if t and t.strip()}
        patterns = []
        if body := _alternation(names):
            patterns.append(rf"(?<!\w)({body})(?!\w)")
        if body := _alternation(families):
            family = rf"({body})(?![^\W\d])"  # a version may follow: "gpt-4o", "llama3"
            patterns.append(rf"(?<!\w){_INTRO}\s+{_FILLER}{family}")
            patterns.append(rf"(?<!\w)as\s+(?:an?\s+)?{family}[^\s,]*\s*,")
        if body := _alternation([*vendors, *families]):
            target = rf"({body})(?!\w)"
            patterns.append(rf"(?<!\w)(?:{_INTRO}|as)\s+{_FILLER}{_ORIGIN}\s+{_TEAM}{target}")
            patterns.append(rf"(?<!\w)my\s+(?:creators?|developers?|makers?|trainers?|maker|parent\s+company|"
                            rf"company|team)\s*(?:at|from|is|are|,|:)?\s+{target}")
        self._pattern = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        self._cache: dict[str, tuple[str, ...]] = {}  # answer text -> terms found (oldest dropped first)
        self._lock = threading.Lock()  # find() runs on the render thread and on the event loop

    @classmethod
    def from_variants(cls, variants: Iterable[Any], names: Iterable[str] = (), providers: Iterable[str] = (),
                      terms: IdentityTerms | None = None) -> IdentityGuard:
        """Names and aliases of `variants` (plus `names`, e.g. stored variants) anywhere; their providers (plus
        `providers`) and the listed families and vendors in self-identification."""
        all_names, all_providers = list(names), list(providers)
        for variant in variants:
            all_names.extend(variant.names())
            all_providers.append(variant.provider)
        terms = terms or IdentityTerms()
        return cls(all_names, terms.families, [*terms.vendors, *all_providers])

    def find(self, text: str) -> list[str]:
        """The terms found in what `text` shows once rendered (as the registry or the list spells them), in order
        of appearance, without repeats. Results are cached: the arena calls this off the event loop as each answer
        is finished, so the check at vote time is a lookup (a markdown parse costs ~1 ms per answer)."""
        if self._pattern is None or not text:
            return []
        with self._lock:
            cached = self._cache.get(text)
        if cached is not None:
            return list(cached)
        found = self._find(text)
        with self._lock:
            self._cache[text] = tuple(found)
            while len(self._cache) > self.CACHE:
                self._cache.pop(next(iter(self._cache)))
        return found

    def _find(self, text: str) -> list[str]:
        assert self._pattern is not None
        found: list[str] = []
        for match in self._pattern.finditer(normalise(self._renderer.visible_text(text))):
            hit = next(g for g in match.groups() if g)  # each pattern has one group: the term
            term = self._canonical.get(_SEPARATORS.sub(" ", hit).strip(), hit)
            if term not in found:
                found.append(term)
        return found

    def check_answers(self, *conversations: Sequence[Mapping[str, Any]]) -> list[str]:
        """Terms found in the assistant messages of the conversations (user prompts never count)."""
        found: list[str] = []
        for conversation in conversations:
            for message in conversation:
                if message.get("role") == "assistant" and isinstance(message.get("content"), str):
                    found.extend(n for n in self.find(message["content"]) if n not in found)
        return found
