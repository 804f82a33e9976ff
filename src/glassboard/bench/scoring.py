"""Scoring one generation twice (strict and lenient) and comparing answers: letters, numbers, math-verify."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from glassboard.bench.extract import EXTRACTOR_VERSION, AnswerKind, lenient, strict
from glassboard.schema import Reading, Scored

# Part of every stored score: a summary re-scores records whose version differs from the current one.
SCORER_VERSION = f"{EXTRACTOR_VERSION}.1"
MATH_TIMEOUT_S = 5  # math-verify's own per-call limit (signal based, so only enforced on the main thread)


def score(text: str, kind: AnswerKind, target: str, letters: str = "") -> Scored:
    """Both readings of one response (strict and lenient: answer, pattern, correct) and whether the format held."""
    first = strict(text, kind, letters)
    second = lenient(text, kind, letters)
    strict_ok = first.answer is not None and is_correct(kind, first.answer, target)
    if second.answer is None:
        lenient_ok = False
    elif second.answer == first.answer:
        lenient_ok = strict_ok
    else:
        lenient_ok = is_correct(kind, second.answer, target)
    return Scored(
        format_ok=first.answer is not None,
        strict=Reading(first.answer, first.pattern, strict_ok),
        lenient=Reading(second.answer, second.pattern, lenient_ok),
    )


def is_correct(kind: AnswerKind, answer: str, target: str) -> bool:
    if kind == "letter":
        return answer == target
    if kind == "number":
        try:
            got, want = float(answer), float(target)
        except ValueError:
            return False
        return abs(got - want) <= 1e-6 * max(1.0, abs(want))
    return math_equal(answer, target)


_SPACE = re.compile(r"\s+|\\[,;:! ]|\\left|\\right")


def _canonical(expr: str) -> str:
    return _SPACE.sub("", expr).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")


def math_equal(answer: str, target: str) -> bool:
    """Equal after trivial normalisation, else math-verify (symbolic/numeric equivalence), cached per pair."""
    if _canonical(answer) == _canonical(target):
        return True
    return _math_verify(answer, target, threading.current_thread() is threading.main_thread())


@lru_cache(maxsize=65536)
def _math_verify(answer: str, target: str, main_thread: bool) -> bool:
    from math_verify import parse, verify  # heavy import (about 1 s): only for math tasks

    limit = MATH_TIMEOUT_S if main_thread else None  # signal.alarm cannot be used off the main thread
    try:
        gold = parse(f"${target}$", parsing_timeout=limit) or parse(target, parsing_timeout=limit)
        pred = parse(f"${answer}$", parsing_timeout=limit) or parse(answer, parsing_timeout=limit)
        if not gold or not pred:
            return False
        return bool(verify(gold, pred, timeout_seconds=limit))
    except Exception:  # math-verify/sympy raise many types (and TimeoutException) on odd input: not equal
        return False
