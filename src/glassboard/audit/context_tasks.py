"""The long-context tasks: seeded, deterministic generators of RULER's families and a NoLiMa-style needle.

Each task turns (rng, depth) into a `Layout` (what to assemble, see haystack.py) and the strings a correct answer
contains; scoring is RULER's: the share of expected strings found in the answer (case-insensitive).
- niah_single: one key, one 7-digit number.       - niah_multikey: the asked key among 3 distractor keys.
- niah_multivalue: one key, 4 numbers (all asked). - niah_multiquery: 4 keys, each asked.
- vt: variable tracking, a chain of 4 assignments (multi-hop), a distractor chain with another value.
- cwe: common words extraction: the 10 words that occur most often in a long list (no depth).
- nolima: "X lives next to the <landmark>", asked "who has been to <city>?": one associative hop and no word in
  common between needle and question (NoLiMa, Modarressi et al. 2025).
Words of keys, names, landmarks and cities never occur in the prose haystack.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from glassboard.audit.haystack import ContextError, Insert, Layout, TokenCounts, vocabulary

INSTRUCTION = ("Below is a long text. Somewhere in it are a few facts that matter; the rest is filler. Read it and "
               "answer the question that follows it.\n\nText:")
_ADJECTIVES = ("amber", "cobalt", "crimson", "silver", "jade", "scarlet", "violet", "ivory", "copper", "indigo",
               "saffron", "teal", "ochre", "azure", "maroon", "olive")
_ANIMALS = ("falcon", "otter", "lynx", "heron", "badger", "gecko", "marmot", "ibis", "walrus", "jackal", "puffin",
            "tapir", "osprey", "ferret", "bison", "newt")
# (landmark, city): no word in common; none of them in the haystack's vocabulary.
LANDMARKS = (("Semperoper", "Dresden"), ("Kiyomizu-dera temple", "Kyoto"), ("Eiffel Tower", "Paris"),
             ("Colosseum", "Rome"), ("Acropolis", "Athens"), ("Sagrada Familia", "Barcelona"),
             ("Brandenburg Gate", "Berlin"), ("Table Mountain", "Cape Town"), ("Space Needle", "Seattle"),
             ("Rijksmuseum", "Amsterdam"), ("Charles Bridge", "Prague"), ("Atomium", "Brussels"),
             ("Petronas Towers", "Kuala Lumpur"), ("Hagia Sophia", "Istanbul"), ("Alhambra", "Granada"))
NAMES = ("Yuki", "Stuart", "Katie", "Veronica", "Gideon", "Mandla", "Caspar", "Diego", "Megan", "Calvin", "Ingrid",
         "Tomasz", "Aisha", "Rafael", "Noor", "Elif")
STOPWORDS = frozenset("a an the to of in on at by for with and or is are was were be been has have had who which "
                      "what character characters answer name only next actually".split())
_CWE_WORDS = sorted(w for w in vocabulary() if w.isalpha() and len(w) > 2)


@dataclass(frozen=True)
class Instance:
    """One generated sample: what to assemble, what a correct answer contains, and the answer's token budget."""

    layout: Layout
    expected: tuple[str, ...]
    max_tokens: int


SharedMaker = Callable[[random.Random, Sequence[float], str], list[Instance]]


@dataclass(frozen=True)
class ContextTask:
    """A task family; `shared` (single-needle tasks) builds one haystack carrying a needle per depth, with distinct
    keys, and one instance per depth that asks about its own needle (see context.py, "shared depth sweep")."""

    name: str
    description: str
    uses_depth: bool
    make: Callable[[random.Random, float, str], Instance]
    shared: SharedMaker | None = None
    max_shared: int = 0  # the most needles one shared haystack can carry with distinct keys


def _key(rng: random.Random, taken: set[str]) -> str:
    while (key := f"{rng.choice(_ADJECTIVES)}-{rng.choice(_ANIMALS)}") in taken:
        pass
    taken.add(key)
    return key


def _number(rng: random.Random) -> str:
    return str(rng.randrange(1_000_000, 10_000_000))


def _needle(key: str, value: str) -> str:
    return f" Remember this: the secret number for {key} is {value}."


def _others(rng: random.Random, k: int) -> list[float]:
    return [round(rng.random(), 3) for _ in range(k)]


def niah(keys: int, values: int, queries: int) -> Callable[[random.Random, float, str], Instance]:
    """A needle-in-a-haystack family: `keys` keys with `values` numbers each; the first `queries` keys are asked."""

    def make(rng: random.Random, depth: float, haystack: str) -> Instance:
        taken: set[str] = set()
        names = [_key(rng, taken) for _ in range(keys)]
        numbers = {key: [_number(rng) for _ in range(values)] for key in names}
        depths = [depth, *_others(rng, keys * values - 1)]
        inserts = [Insert(_needle(key, value), depths.pop(0)) for key in names for value in numbers[key]]
        asked = names[:queries]
        if values > 1:
            question = f"What are all the secret numbers for {asked[0]}? List every one of them."
        elif queries > 1:
            question = f"What are the secret numbers for {', '.join(asked[:-1])} and {asked[-1]}? Give each one."
        else:
            question = f"What is the secret number for {asked[0]}? Reply with the number only."
        expected = tuple(v for key in asked for v in numbers[key])
        return Instance(Layout(INSTRUCTION, f"\n\nQuestion: {question}", tuple(inserts), haystack), expected,
                        16 * len(expected) + 16)

    return make


def niah_shared(rng: random.Random, depths: Sequence[float], haystack: str) -> list[Instance]:
    """One needle per depth (distinct keys and numbers); instance i asks for the number of the needle at depths[i]."""
    taken: set[str] = set()
    keys = [_key(rng, taken) for _ in depths]
    numbers: list[str] = []
    while len(numbers) < len(depths):
        if (number := _number(rng)) not in numbers:
            numbers.append(number)
    inserts = tuple(Insert(_needle(key, number), depth) for key, number, depth in zip(keys, numbers, depths,
                                                                                       strict=True))
    return [Instance(Layout(INSTRUCTION, f"\n\nQuestion: What is the secret number for {key}? Reply with the number "
                            "only.", inserts, haystack), (number,), 32) for key, number in zip(keys, numbers,
                                                                                              strict=True)]


def _variable(rng: random.Random, taken: set[str]) -> str:
    while (name := "".join(rng.choice(string.ascii_uppercase) for _ in range(5))) in taken:
        pass
    taken.add(name)
    return name


def variable_tracking(rng: random.Random, depth: float, haystack: str) -> Instance:
    """Two chains of 4 hops (`VAR B = VAR A.`); the one holding the asked value starts at `depth`."""
    taken: set[str] = set()
    value, other = rng.sample(range(10_000, 100_000), 2)
    chains = [[_variable(rng, taken) for _ in range(5)] for _ in range(2)]
    inserts = []
    for chain, number, start in ((chains[0], value, depth), (chains[1], other, rng.random())):
        hops = [f" VAR {b} = VAR {a}." for a, b in zip(chain, chain[1:], strict=False)]
        statements = [f" VAR {chain[0]} = {number}.", *hops]
        inserts += [Insert(s, round(start + (1 - start) * i / len(statements), 3)) for i, s in enumerate(statements)]
    question = (f"\n\nQuestion: Which variables end up holding the value {value}? Follow every assignment "
                "and list all of their names.")
    return Instance(Layout(INSTRUCTION, question, tuple(inserts), haystack), tuple(chains[0]), 64)


def common_words(rng: random.Random, depth: float, haystack: str) -> Instance:
    """A list of words in which 10 occur far more often than any other; asked for those 10."""
    words = list(_CWE_WORDS)
    rng.shuffle(words)
    common, rare = words[:10], words[10:]

    def fill(budget: int, counts: TokenCounts, rng: random.Random) -> list[str]:
        entries = max(1, budget // max(1, round(sum(counts(f" {w},") for w in words) / len(words))))
        per_common = max(3, entries // 30)
        units = [f" {w}," for w in common for _ in range(per_common)]
        used = sum(counts(u) for u in units)
        if used > budget:
            raise ContextError(f"{budget} tokens of haystack are too few for the common-words task")
        i = 0
        while used + counts(f" {rare[i % len(rare)]},") <= budget and i < len(rare) * (per_common // 2):
            units.append(f" {rare[i % len(rare)]},")
            used += counts(units[-1])
            i += 1
        rng.shuffle(units)
        return units

    question = ("\n\nQuestion: Which 10 words occur most often in the list above? Answer with the 10 words "
                "separated by commas.")
    layout = Layout("Below is a long list of words, separated by commas.\n\nList:", question, (), "none", fill,
                    (" -", " ."))
    return Instance(layout, tuple(common), 96)


def nolima(rng: random.Random, depth: float, haystack: str) -> Instance:
    """The needle names a landmark, the question its city: the model must make the hop on its own."""
    landmark, city = rng.choice(LANDMARKS)
    name = rng.choice(NAMES)
    needle = f" Actually, {name} lives next to the {landmark}."
    question = f"\n\nQuestion: Which character has been to {city}? Answer with the name only."
    return Instance(Layout(INSTRUCTION, question, (Insert(needle, depth),), haystack), (name,), 16)


def nolima_shared(rng: random.Random, depths: Sequence[float], haystack: str) -> list[Instance]:
    """One character per depth, each next to a different landmark; instance i asks who has been to the city of the
    landmark at depths[i] (the other characters are distractors with landmarks of other cities)."""
    places = rng.sample(LANDMARKS, len(depths))
    names = rng.sample(NAMES, len(depths))
    inserts = tuple(Insert(f" Actually, {name} lives next to the {landmark}.", depth)
                    for name, (landmark, _), depth in zip(names, places, depths, strict=True))
    return [Instance(Layout(INSTRUCTION, f"\n\nQuestion: Which character has been to {city}? Answer with the name "
                            "only.", inserts, haystack), (name,), 16) for name, (_, city) in zip(names, places,
                                                                                                strict=True)]


def content_words(text: str) -> set[str]:
    """Lower-case words of `text` that carry content (STOPWORDS and the question/answer scaffolding removed)."""
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS and w != "question"}


TASKS: dict[str, ContextTask] = {task.name: task for task in (
    ContextTask("niah_single", "one needle (a key's number)", True, niah(1, 1, 1), niah_shared,
                len(_ADJECTIVES) * len(_ANIMALS)),
    ContextTask("niah_multikey", "the asked key among 3 distractors", True, niah(4, 1, 1)),
    ContextTask("niah_multivalue", "one key with 4 numbers, all asked", True, niah(1, 4, 1)),
    ContextTask("niah_multiquery", "4 keys, all asked", True, niah(4, 1, 4)),
    ContextTask("vt", "variable tracking: a 4-hop assignment chain", True, variable_tracking),
    ContextTask("cwe", "the 10 most common words of a list", False, common_words),
    ContextTask("nolima", "needle and question share no word (one associative hop)", True, nolima, nolima_shared,
                len(LANDMARKS)),
)}


def get_tasks(names: str | list[str]) -> list[ContextTask]:
    """Tasks by name ("niah_single,nolima" or a list); ContextError naming an unknown one and the known ones."""
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not wanted:
        raise ContextError(f"no task given; known tasks: {', '.join(TASKS)}")
    unknown = [n for n in wanted if n not in TASKS]
    if unknown:
        raise ContextError(f"unknown task '{unknown[0]}'; known tasks: {', '.join(TASKS)}")
    return [TASKS[n] for n in dict.fromkeys(wanted)]


def recall(answer: str, expected: tuple[str, ...]) -> float:
    """RULER's string_match_all: the share of expected strings that occur in the answer, ignoring case."""
    text = answer.lower()
    return sum(e.lower() in text for e in expected) / len(expected)
