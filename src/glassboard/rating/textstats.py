"""Style counts of a response text: tokens, markdown headers, lists, bold and emoji (offline, regex-based)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Fenced code blocks (``` or ~~~, any info string) are removed before counting: a long code answer should
# not count as "long prose", and `#include` or `**kwargs` inside code are not markdown. An unclosed fence
# runs to the end of the text, as markdown renderers treat it.
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)

_HEADER = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+\S", re.MULTILINE)
_ORDERED = re.compile(r"^[ \t]*\d{1,9}[.)][ \t]+\S", re.MULTILINE)
_UNORDERED = re.compile(r"^[ \t]*[-*+][ \t]+\S", re.MULTILINE)
_BOLD_STAR = re.compile(r"\*\*(?=\S)[^*\n]+?\*\*")
_BOLD_UNDER = re.compile(r"(?<!\w)__(?=\S)[^_\n]+?__(?!\w)")

# Token approximation (no tokenizer download): a run of Latin/Greek/Cyrillic letters counts one token per
# started 6 letters (BPE vocabularies split long words), a run of digits one per 3 digits, and every other
# non-space character (punctuation, CJK ideograph, emoji code point) one token. On English prose this lands
# within ~10-15% of GPT-style tokenizers; only *relative* lengths enter the style features, so that is enough.
_LETTERS = "A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_TOKEN = re.compile(rf"[{_LETTERS}]{{1,6}}|\d{{1,3}}|[^\s{_LETTERS}\d]")

# Emoji: pictographic code points by Unicode block. One emoji = a base pictograph (or a pair of regional
# indicators = a flag) followed by any variation selectors, skin-tone modifiers and ZWJ-joined pictographs,
# so a family or a flag counts once. Text symbols such as (c), (R) and TM are deliberately not counted.
_PICTO = (
    "\U0001f300-\U0001f5ff"  # misc symbols and pictographs
    "\U0001f600-\U0001f64f"  # emoticons
    "\U0001f680-\U0001f6ff"  # transport and map
    "\U0001f900-\U0001f9ff"  # supplemental symbols and pictographs
    "\U0001fa70-\U0001faff"  # symbols and pictographs extended-A
    "\U0001f004\U0001f0cf\U0001f18e\U0001f191-\U0001f19a\U0001f201\U0001f21a\U0001f22f\U0001f232-\U0001f23a"
    "\U0001f250\U0001f251"
    "\u2600-\u27bf"  # misc symbols, dingbats
    "\u231a\u231b\u23e9-\u23fa\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55"
)
_MOD = "\ufe0f\U0001f3fb-\U0001f3ff"
_EMOJI = re.compile(rf"(?:[\U0001f1e6-\U0001f1ff]{{2}}|[{_PICTO}])[{_MOD}]*(?:\u200d[{_PICTO}][{_MOD}]*)*")

STYLE_KEYS = ("tokens", "h1", "h2", "h3", "h4", "h5", "h6", "ordered", "unordered", "**", "__", "emoji")


def strip_code_blocks(text: str) -> str:
    """Text with fenced code blocks removed."""
    return _FENCE.sub("", text)


def count_tokens(text: str) -> int:
    """Approximate token count of `text` (see the module comment for the rule)."""
    return len(_TOKEN.findall(text))


def count_emoji(text: str) -> int:
    """Number of emoji (grapheme-level: a ZWJ family or a flag counts once)."""
    return sum(1 for _ in _EMOJI.finditer(text))


def style_counts(text: str) -> dict[str, int]:
    """Style counts of one response, computed on `text` with fenced code blocks removed.

    Keys: tokens, h1..h6, ordered, unordered, "**", "__", emoji.
    """
    text = strip_code_blocks(text or "")
    out = dict.fromkeys(STYLE_KEYS, 0)
    out["tokens"] = count_tokens(text)
    for m in _HEADER.finditer(text):
        out[f"h{len(m.group(1))}"] += 1
    out["ordered"] = len(_ORDERED.findall(text))
    out["unordered"] = len(_UNORDERED.findall(text))
    out["**"] = len(_BOLD_STAR.findall(text))
    out["__"] = len(_BOLD_UNDER.findall(text))
    out["emoji"] = count_emoji(text)
    return out


def conversation_counts(conversation: Iterable[Mapping[str, object]]) -> dict[str, int]:
    """Style counts summed over the assistant turns of a conversation (list of {role, content})."""
    total = dict.fromkeys(STYLE_KEYS, 0)
    for msg in conversation:
        if not isinstance(msg, Mapping) or msg.get("role") != "assistant":
            continue
        content = msg.get("content")
        if isinstance(content, list):  # multimodal turns: keep the text parts
            content = "\n".join(
                str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text"
            )
        if not isinstance(content, str):
            continue
        for k, v in style_counts(content).items():
            total[k] += v
    return total
