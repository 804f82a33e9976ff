"""Haystacks and prompts of an exact length in the model's own tokens, for the long-context audit.

Two haystacks: `prose`, narrative sentences generated here from a small seeded grammar (no package in the
environment ships public-domain prose, and the audit downloads nothing; the grammar avoids every word the tasks'
needles and questions use, digits included), and `noise`, four short sentences repeated (RULER's repeated-noise
idea, in this project's own words).

Exact length. A prompt is instruction + units + question, and every unit (a haystack sentence, a needle, the
instruction, the question) starts at a pre-token boundary: units begin with a space (or a blank line) and end
with punctuation. For BPE tokenizers with a pre-tokenizer (GPT-2 family, Llama 3, SmolLM2) token counts then add
up exactly, so each distinct unit is counted once and a 128k-token prompt is assembled in milliseconds. The sum
is checked by tokenizing the whole prompt once (`verify`) and fixed with one-token pad words when a tokenizer
does merge across a boundary. The last few tokens of the budget are filled with whole sentences of the right
length (a noise sentence for 5-9 tokens), so at most 4 pad words stand before the question.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from glassboard.schema import GlassboardError

HAYSTACKS = ("prose", "noise")
POOL_SIZE = 512
PAD_WORDS = (" the", " and", " of", " a", " to", " in", " it", " on")


class ContextError(GlassboardError, ValueError):
    """Bad input to the long-context audit: a length, a task, a threshold, an endpoint that cannot be measured."""


_WHO = ("the miller", "an old shepherd", "the ferryman's daughter", "a travelling tinker", "the schoolmaster",
        "the widow at the crossroads", "two brothers from the upper farm", "the village smith", "a young clerk",
        "the innkeeper", "a weaver", "the parish priest", "the carter", "a girl with a basket", "the baker's boy",
        "an elderly fisherman", "the reeve", "a pedlar", "the chandler", "the keeper of the toll house")
_DID = ("walked slowly along", "spoke quietly about", "remembered", "worked beside", "watched", "mended",
        "carried a letter past", "sang softly about", "forgot", "argued over", "painted", "swept the path by",
        "looked for", "dreamed of", "waited near", "counted the sheep beyond", "told a story about", "cleaned")
_WHAT = ("the stone bridge", "the flooded meadow", "the winter harvest", "the narrow lane behind the chapel",
         "the orchard wall", "the grey mill pond", "the long road to the coast", "the broken cart", "the sheepfold",
         "the chestnut tree", "the market cross", "the wool barn", "the wooden gate", "the kitchen garden",
         "the hedges by the ford", "the old well", "the church tower", "the ploughed field", "the beehives")
_WHEN = ("at dawn", "before the first frost", "late in the evening", "on market day", "during the long rains",
         "when the bells rang", "after supper", "in the cold spring", "before anyone woke", "at harvest time",
         "on a windy afternoon", "under a pale moon", "when the river rose", "in high summer")
_AND = ("and nobody asked why", "though the weather had turned", "as the lamps were lit",
        "while the dogs slept by the fire", "and the crows circled overhead", "because it seemed the right thing",
        "and the smoke rose straight up", "as the cattle came home", "though the roads were deep in mud",
        "and the children laughed at the noise", "while the kettle sang on the hearth")
_HOW = ("quiet", "busy", "muddy", "golden", "cold", "crowded", "peaceful", "damp", "bright", "old", "narrow", "warm")
NOISE_UNITS = (" The wind is cold.", " The stones are grey.", " Here the path turns.", " And back we go again.")


def prose_pool(size: int = POOL_SIZE, seed: int = 0) -> tuple[str, ...]:
    """`size` distinct sentences from the grammar, each starting with a space (a fixed pool: counted once)."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < size:
        if rng.random() < 0.75:
            sentence = f"{rng.choice(_WHO)} {rng.choice(_DID)} {rng.choice(_WHAT)} {rng.choice(_WHEN)}, " \
                       f"{rng.choice(_AND)}."
        else:
            sentence = f"{rng.choice(_WHAT)} was {rng.choice(_HOW)} and {rng.choice(_HOW)} {rng.choice(_WHEN)}."
        out[" " + sentence[0].upper() + sentence[1:]] = None
    return tuple(out)


def vocabulary() -> frozenset[str]:
    """Every word the prose haystack can contain (lower case), so tasks can keep their words out of it."""
    text = " ".join((*_WHO, *_DID, *_WHAT, *_WHEN, *_AND, *_HOW, *NOISE_UNITS, "was and")).lower()
    return frozenset(re.findall(r"[a-z]+", text))


@dataclass
class TokenCounts:
    """Token counts of units, each distinct unit counted once by `count` (the model's tokenizer)."""

    count: Callable[[str], int]
    cache: dict[str, int] = field(default_factory=dict)

    def __call__(self, unit: str) -> int:
        n = self.cache.get(unit)
        if n is None:
            n = self.cache[unit] = self.count(unit)
        return n

    def prefetch(self, units: Sequence[str], workers: int = 16) -> None:
        """Count many units at once on threads (a remote tokenizer answers one unit per request)."""
        from concurrent.futures import ThreadPoolExecutor

        todo = [u for u in dict.fromkeys(units) if u not in self.cache]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            self.cache.update(zip(todo, pool.map(self.count, todo), strict=True))

    def pad_words(self, candidates: Sequence[str] = PAD_WORDS) -> list[str]:
        return [w for w in candidates if self(w) == 1]


@dataclass(frozen=True)
class Insert:
    """A needle: its text (a unit) and where it goes, as the fraction of the haystack's tokens before it."""

    text: str
    depth: float


@dataclass(frozen=True)
class Layout:
    """What a task asks to be assembled; `fill` (CWE) supplies the haystack units for a token budget itself."""

    instruction: str
    question: str
    inserts: tuple[Insert, ...] = ()
    haystack: str = "prose"
    fill: Callable[[int, TokenCounts, random.Random], list[str]] | None = None
    pad: tuple[str, ...] = PAD_WORDS


@dataclass(frozen=True)
class BuiltPrompt:
    """A prompt and its length in tokens: verified by a full tokenization when `exact`, else the units' sum."""

    text: str
    tokens: int
    exact: bool
    target: int


def fixed_tokens(layout: Layout, counts: TokenCounts) -> int:
    """Tokens of everything but the haystack: the least content a prompt of this layout can have."""
    return counts(layout.instruction) + counts(layout.question) + sum(counts(i.text) for i in layout.inserts)


def _haystack_units(kind: str, budget: int, counts: TokenCounts, rng: random.Random, pool: Sequence[str]
                    ) -> tuple[list[str], int]:
    source = pool if kind == "prose" else NOISE_UNITS
    units: list[str] = []
    used = 0
    order = list(source)
    while True:
        if kind == "prose":
            rng.shuffle(order)
        for unit in order:
            n = counts(unit)
            if used + n > budget:
                return _close_gap(units, used, budget, counts, [*source, *NOISE_UNITS])
            units.append(unit)
            used += n


def _close_gap(units: list[str], used: int, budget: int, counts: TokenCounts, fillers: Sequence[str]
               ) -> tuple[list[str], int]:
    """Fill what is left of the budget with whole sentences (the longest that fits, again and again), so at most a
    few one-token pad words remain: a run of pads before the question reads as noise that small models repeat."""
    ranked = sorted(dict.fromkeys(fillers), key=lambda u: (-counts(u), u))
    while (unit := next((u for u in ranked if counts(u) <= budget - used), None)) is not None:
        units.append(unit)
        used += counts(unit)
    return units, used


def build_prompt(layout: Layout, target: int, counts: TokenCounts, rng: random.Random, *,
                 pool: Sequence[str] = (), verify: Callable[[str], int] | None = None, room: int = 0) -> BuiltPrompt:
    """A prompt of `target` content tokens: haystack units up to the budget, needles at their depths (by token
    position), one-token pad words for the rest; `verify` (a full tokenization) checks and corrects the sum.
    `room`: tokens kept out of the haystack and padded instead, so prompts whose questions differ in length can
    share one haystack (the shared depth sweep reserves its longest question)."""
    budget = target - fixed_tokens(layout, counts) - max(0, room)
    if budget < 0:
        raise ContextError(f"a length of {target} tokens is below this task's smallest prompt "
                           f"({target - budget} tokens without any haystack)")
    if layout.fill is not None:
        units = layout.fill(budget, counts, rng)
        used = sum(counts(u) for u in units)
    else:
        units, used = _haystack_units(layout.haystack, budget, counts, rng, pool or prose_pool())
    pads = counts.pad_words(layout.pad)
    cumulative = list(accumulate(counts(u) for u in units))
    placed: list[tuple[int, str]] = [(bisect_left(cumulative, i.depth * used - 1e-9) + 1 if i.depth > 0 else 0,
                                      i.text) for i in layout.inserts]
    for position, text in sorted(placed, key=lambda p: -p[0]):
        units.insert(position, text)
    pad_count = budget - used + max(0, room)
    for _ in range(4):
        pad = "".join(pads[i % len(pads)] for i in range(pad_count)) if pads else ""
        text = layout.instruction + "".join(units) + pad + layout.question
        tokens = fixed_tokens(layout, counts) + used + (pad_count if pads else 0)
        if verify is None:
            return BuiltPrompt(text, tokens, False, target)
        actual = verify(text)
        if actual == target or not pads:
            return BuiltPrompt(text, actual, True, target)
        pad_count += target - actual
        while pad_count < 0 and len(units) > len(layout.inserts) and not layout.fill:
            removed = next(k for k in range(len(units) - 1, -1, -1) if units[k] not in {i.text for i in
                                                                                         layout.inserts})
            pad_count += counts(units.pop(removed))
        pad_count = max(0, pad_count)
    return BuiltPrompt(text, actual, True, target)
