"""Per-category leaderboards and the separate "judged by model X" boards (issue 15), read from the store.

Categories come from `glassboard battles categorize --db` (the `category` column). Judge battles are the ones
imported from `glassboard judge run --out` (source 'judge'): they get one board per judge, clearly labelled, and
never enter the human board. Boards are cached by (category, vote count) and (judge battle count), in a cache the
app owns (app.state.category_boards).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from glassboard.arena.board import Board, compute

MAX_CATEGORY_CHARS = 64
MAX_CACHED = 32


@dataclass(frozen=True, slots=True)
class CategoryOption:
    name: str
    votes: int


@dataclass(frozen=True, slots=True)
class JudgedBoard:
    judge: str
    judge_variant: str | None
    prompt_hashes: tuple[str, ...]
    board: Board


@dataclass
class CategoryCache:
    """Computed category boards, category vote counts and judged boards, each keyed by what invalidates it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    boards: dict[tuple[str, int], Board] = field(default_factory=dict)
    counts: tuple[int, list[CategoryOption]] | None = None
    judged: tuple[int, list[JudgedBoard]] | None = None


def category_options(store: Any, cache: CategoryCache, vote_count: int) -> list[CategoryOption]:
    """Every category label with its human vote count (most votes first)."""
    with cache.lock:
        if cache.counts is not None and cache.counts[0] == vote_count:
            return cache.counts[1]
    counts = store.category_counts()
    options = [CategoryOption(name, n) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    with cache.lock:
        cache.counts = (vote_count, options)
    return options


def category_board(store: Any, cache: CategoryCache, category: str, vote_count: int) -> Board:
    """The human leaderboard of one category (a message when it has too few votes)."""
    key = (category, vote_count)
    with cache.lock:
        if key in cache.boards:
            return cache.boards[key]
    battles = [b for b in store.voted() if category in _labels(b.get("category"))]
    board = compute(battles)
    with cache.lock:
        if len(cache.boards) >= MAX_CACHED:
            cache.boards.clear()
        cache.boards[key] = board
    return board


def judged_boards(store: Any, cache: CategoryCache) -> list[JudgedBoard]:
    """One board per judge over the imported judge battles (empty when there are none)."""
    count = store.judged_count()
    with cache.lock:
        if cache.judged is not None and cache.judged[0] == count:
            return cache.judged[1]
    by_judge: dict[str, list[dict[str, Any]]] = {}
    for battle in store.voted(judged=True) if count else ():
        by_judge.setdefault(str(battle.get("judge") or "unknown judge"), []).append(battle)
    boards = []
    for judge, battles in sorted(by_judge.items()):
        variants = {b.get("judge_variant") for b in battles}
        hashes = tuple(sorted({str(b.get("judge_prompt_hash")) for b in battles if b.get("judge_prompt_hash")}))
        boards.append(JudgedBoard(judge, variants.pop() if len(variants) == 1 else None, hashes, compute(battles)))
    with cache.lock:
        cache.judged = (count, boards)
    return boards


def clean_category(value: str | None) -> str | None:
    """The requested category, or None for all; anything that is not a plain label is treated as unknown."""
    if not value:
        return None
    value = value.strip()[:MAX_CATEGORY_CHARS]
    return value or None


def unknown_category_message(category: str) -> str:
    """What the page and the API say about a category no vote is tagged with. The name is already capped
    (clean_category); characters that do not print (controls, bidi overrides) are shown as escapes."""
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in category)
    return f"No votes are tagged with the category '{shown}'."


def _labels(category: Any) -> tuple[str, ...]:
    if isinstance(category, str):
        return (category,)
    return tuple(category) if isinstance(category, list) else ()


@dataclass(frozen=True, slots=True)
class CategoryChoice:
    """A leaderboard request's category: the cleaned name (None: all votes), whether votes carry it, its board
    (None unless a known category was asked for), the selector's options and the count of all human votes."""

    category: str | None
    known: bool
    board: Board | None
    options: list[CategoryOption]
    all_votes: int


async def choose_category(st: Any, cache: CategoryCache, requested: str | None) -> CategoryChoice:
    """Validate `requested` against the stored labels and compute its board (page and API share this)."""
    category = clean_category(requested)
    vote_count = await st.read(st.store.vote_count)
    options = await st.read(category_options, st.store, cache, vote_count)
    known = category is not None and any(o.name == category for o in options)
    board = await st.read(category_board, st.store, cache, category, vote_count) if known else None
    return CategoryChoice(category, known, board, options, vote_count)


async def leaderboard_extras(st: Any, cache: CategoryCache, requested: str | None) -> dict[str, Any]:
    """Template context for the category selector and the judged boards; `category_board` replaces the human board
    when a category is chosen (None otherwise)."""
    choice = await choose_category(st, cache, requested)
    board = choice.board
    if choice.category is not None and not choice.known:
        board = Board(votes=0, message=unknown_category_message(choice.category))
    judged = await st.read(judged_boards, st.store, cache)
    return {"categories": choice.options, "category": choice.category, "category_board": board, "judged": judged,
            "all_votes": choice.all_votes}
