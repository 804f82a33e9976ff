"""Prompt categories (LMArena-style, multi-label) for per-category leaderboards: the heuristic classifier.

A battle is tagged from its first user prompt (and its number of user turns). Labels:
  coding                 a code fence (```), a language or tool name (Python, JavaScript, SQL, C++, Rust, bash, ...),
                         code-like text (`def f(`, `#include`, `console.log`, `SELECT ... FROM`, a traceback) or
                         programming words (function, compile, debug, regex, API, stack trace, ...)
  math                   arithmetic between numbers (`3 * 4`, `x^2`, `2x + 1 = 5`), LaTeX (`$...$`, `\\frac`),
                         or math words (solve, equation, integral, derivative, probability, theorem, prove, ...)
  creative_writing       a request to write a poem, story, song, haiku, limerick, lyrics, a scene or a script; role-play
  instruction_following  explicit output constraints: "in N words", "at most N sentences", "exactly N bullet points",
                         "do not use", "without using", "respond only with", "in JSON", "all caps", "start with" ...
  longer_query           a first prompt of at least 2,000 characters (~500 tokens, LMArena's threshold)
  multi_turn             more than one user turn
  hard_prompt            at least HARD_MIN of LMArena's seven criteria, each by a rule:
      specificity        a number, a quoted string, or a named format/constraint (an instruction_following hit)
      domain_knowledge   technical vocabulary (algorithm, protocol, theorem, statute, enzyme, portfolio, ...)
      complexity         several parts: two or more questions, an enumerated list, or "and then"/"step by step"
      problem_solving    solve, design, optimise, debug, prove, plan, derive, implement, analyse
      creativity         a creative_writing hit, or invent/imagine/brainstorm
      technical_accuracy a coding or math hit
      real_world         a practical situation: "I need", "my ...", "our team/company", "how do I/can I"
Every rule is an RE2 pattern that pyarrow runs over the whole column of prompts (C++, linear time).
The classifier id and the prompt hash are stored with the labels (`category_tag`), so a new rule set is a new id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

HEURISTIC_ID: Final = "heuristic-v1"
LABELS: Final = ("coding", "math", "creative_writing", "instruction_following", "hard_prompt", "longer_query",
                 "multi_turn")
CRITERIA: Final = ("specificity", "domain_knowledge", "complexity", "problem_solving", "creativity",
                   "technical_accuracy", "real_world")
HARD_MIN = 5  # criteria needed for hard_prompt (LMArena's model-based classifier asks for 6 of 7)
LONG_CHARS = 2000



def _words(text: str) -> str:
    """A case-insensitive whole-word alternation of the space-separated words in `text` (RE2 syntax)."""
    words = text.split()
    plain = [re.escape(w) for w in words if w[-1].isalnum()]
    tail = [re.escape(w) for w in words if not w[-1].isalnum()]  # c++, c#: no word boundary after them
    return r"(?i)\b(?:" + "|".join(plain) + ")\\b" + (r"|(?i)\b(?:" + "|".join(tail) + ")" if tail else "")


# Every rule is one RE2 pattern run over the whole column of prompts by pyarrow (C++, linear time): a million
# prompts take a few seconds, and `heuristic()` for one prompt runs the very same rules.
RULES: Final = {
    "code_words": _words(
        "python javascript typescript java c++ c# golang rust kotlin swift php ruby perl scala haskell matlab sql "
        "mysql postgres postgresql sqlite bash powershell html css react nodejs django flask pandas numpy pytorch "
        "tensorflow docker kubernetes git regex function functions compile compiler compiling debug debugging code "
        "coding script api endpoint segfault exception refactor repository variable dataframe "
        "programming program bug"),
    "code_marks": (r"```|~~~|#include|console\.log|Traceback \(most recent|\bdef \w+\(|"
                   r"(?i)\bselect\b[^;]{1,200}\bfrom\b"),
    "math_words": _words(
        "solve equation equations integral derivative probability theorem prove calculate arithmetic algebra geometry "
        "polynomial matrix eigenvalue eigenvalues factorial prime primes percent percentage fraction logarithm"),
    "math_marks": r"\d\s*[-+*/^×÷=]\s*\d|\$[^$\n]+\$|\\(?:frac|int|sum|sqrt|lim)\b",
    "creative": (r"(?i)\b(?:write|compose|create|tell|draft|generate)\b[^.?!\n]{0,40}\b(?:poem|story|song|haiku|"
                 r"limerick|lyrics|sonnet|fable|tale|scene|screenplay|rap|joke|novel|chapter|dialogue)s?\b|"
                 r"(?i)\b(?:role-?play|fan ?fiction|fanfic|short story)\b"),
    "constraint": (r"(?i)\b(?:in|with|using|under|at most|at least|exactly|no more than|fewer than|less than)\s+"
                   r"(?:\d+|one|two|three|four|five|ten)\s+(?:words?|sentences?|paragraphs?|bullet|lines?|"
                   r"characters?|items?)\b|(?i)\bdo not (?:use|mention|include)\b|(?i)\bwithout using\b|"
                   r"(?i)\b(?:respond|answer|reply) (?:only|with only)\b|(?i)\b(?:in|as) (?:json|yaml|a table|markdown|"
                   r"csv)\b|(?i)\ball (?:caps|capital letters|lowercase)\b|(?i)\b(?:start|begin|end) (?:with|your "
                   r"answer with)\b"),
    "specific": r"\d|\"[^\"\n]{2,}\"",
    "domain": _words(
        "algorithm algorithms protocol theorem statute enzyme portfolio molecule molecular quantum neural compiler "
        "kernel latency tax legal clinical diagnosis genome thermodynamics econometrics architecture cryptography "
        "derivative regression physics chemistry biology"),
    "complex": r"\?[^?]*\?|(?m)^\s*(?:\d+[.)]|[-*])\s+\S|(?i)\band then\b|(?i)\bstep[- ]by[- ]step\b",
    "solving": _words("solve design optimize optimise debug prove plan derive implement analyze analyse troubleshoot "
                      "fix"),
    "creativity": _words("invent imagine brainstorm creative original"),
    "real_world": (_words("my our i'm i've need want help company team business client") +
                   r"|(?i)\bhow (?:do|can) i\b"),
}


@dataclass(frozen=True, slots=True)
class Tags:
    """The labels of one prompt, the hard-prompt criteria it met, the classifier id and the prompt's hash."""

    labels: tuple[str, ...]
    criteria: tuple[str, ...]
    classifier: str
    prompt_hash: str
    parsed: bool = True  # False: a model classifier's answer did not parse (no judged labels, never guessed)

    def to_json(self) -> dict[str, Any]:
        """What `category_tag` holds (the `category` column holds the labels)."""
        out: dict[str, Any] = {"classifier": self.classifier, "prompt_hash": self.prompt_hash,
                               "criteria": list(self.criteria)}
        if not self.parsed:
            out["unparsable"] = True
        return out


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def heuristic(prompt: str, user_turns: int = 1) -> Tags:
    """The heuristic labels of one prompt (see the module docstring for every rule)."""
    return classify([prompt], np.array([user_turns]))[0]


def label_masks(prompts: Any, user_turns: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Boolean arrays per label and per hard-prompt criterion for a column of prompts (list or pyarrow array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = prompts if isinstance(prompts, pa.Array | pa.ChunkedArray) else pa.array(prompts, pa.string())
    hit = {name: pc.fill_null(pc.match_substring_regex(column, pattern), False).to_numpy(zero_copy_only=False)
           for name, pattern in RULES.items()}
    coding, math = hit["code_words"] | hit["code_marks"], hit["math_words"] | hit["math_marks"]
    criteria = {
        "specificity": hit["specific"] | hit["constraint"], "domain_knowledge": hit["domain"],
        "complexity": hit["complex"], "problem_solving": hit["solving"],
        "creativity": hit["creative"] | hit["creativity"], "technical_accuracy": coding | math,
        "real_world": hit["real_world"],
    }
    met = np.sum(list(criteria.values()), axis=0)
    lengths = pc.fill_null(pc.utf8_length(column), 0).to_numpy(zero_copy_only=False)
    labels = {"coding": coding, "math": math, "creative_writing": hit["creative"],
              "instruction_following": hit["constraint"], "hard_prompt": met >= HARD_MIN,
              "longer_query": lengths >= LONG_CHARS, "multi_turn": np.asarray(user_turns) > 1}
    return labels, criteria


def classify(prompts: Sequence[str], user_turns: np.ndarray) -> list[Tags]:
    """Tags for every prompt of a column (the heuristic classifier)."""
    labels, criteria = label_masks(prompts, user_turns)
    n = len(texts := prompts.to_pylist() if hasattr(prompts, "to_pylist") else list(prompts))
    label_code = np.zeros(n, dtype=np.int64)
    for i, name in enumerate(LABELS):
        label_code |= labels[name].astype(np.int64) << i
    crit_code = np.zeros(n, dtype=np.int64)
    for i, name in enumerate(CRITERIA):
        crit_code |= criteria[name].astype(np.int64) << i
    label_sets = [tuple(n for i, n in enumerate(LABELS) if code >> i & 1) for code in range(1 << len(LABELS))]
    crit_sets = [tuple(n for i, n in enumerate(CRITERIA) if code >> i & 1) for code in range(1 << len(CRITERIA))]
    return [Tags(label_sets[lc], crit_sets[cc], HEURISTIC_ID, prompt_hash(t or ""))
            for lc, cc, t in zip(label_code.tolist(), crit_code.tolist(), texts, strict=True)]


def first_prompt(conversation: Any) -> tuple[str, int]:
    """(first user message, number of user turns) of an LMArena conversation list ('' and 0 when there is none)."""
    if not isinstance(conversation, list):
        return "", 0
    users = [t.get("content") for t in conversation if isinstance(t, dict) and t.get("role") == "user"]
    first = users[0] if users else ""
    return (first if isinstance(first, str) else str(first or "")), len(users)
