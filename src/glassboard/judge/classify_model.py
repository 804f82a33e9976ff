"""A registry variant as the prompt classifier (`battles categorize --classifier VARIANT`).

The model is asked, once per distinct prompt and through the benchmark runner (resumable log, concurrency), for the
judgment labels: coding, math, creative_writing, instruction_following, hard_prompt. Its answer must contain one
line `Categories: a, b` (or `Categories: none`) with known labels only; anything else is unparsable: the battle
gets no judged labels and `category_tag.unparsable = true` (never a guess). longer_query and multi_turn are
definitions, not judgments, so they come from the rules as in the heuristic. The classifier id names the variant
id and the hash of the classification prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from glassboard.bench.log import read_log
from glassboard.bench.runner import run_eval
from glassboard.bench.tasks import Sample, Task
from glassboard.judge.categories import LONG_CHARS, Tags, prompt_hash
from glassboard.judge.categorize import Classifier
from glassboard.judge.verdict import JudgeError
from glassboard.models.hub import ModelHub
from glassboard.models.registry import Registry, Variant

JUDGED = ("coding", "math", "creative_writing", "instruction_following", "hard_prompt")
TEMPLATE = (
    "Classify the user request below. Possible categories: coding (programming), math, creative_writing (stories, "
    "poems, role-play), instruction_following (explicit constraints on the answer's form), hard_prompt (specific, "
    "complex, needs expertise and problem solving).\nReply with one line: 'Categories: ' followed by the matching "
    "categories separated by commas, or 'Categories: none'.\n\n[User request]\n{question}\n[End of user request]"
)
_LINE = re.compile(r"(?im)^\s*categories\s*:\s*(.+?)\s*$")


class ClassifyTask(Task):
    name: ClassVar[str] = "categorize"
    kind = "number"
    scored = False
    template = TEMPLATE
    description = "prompt categories"


def parse_labels(text: str | None) -> tuple[str, ...] | None:
    """The labels of a `Categories:` line, or None when there is none, or it names an unknown label."""
    lines = _LINE.findall(text or "")
    if len(lines) != 1:
        return None
    items = [item.strip().lower().replace(" ", "_") for item in lines[0].split(",") if item.strip()]
    if items == ["none"]:
        return ()
    if not items or any(item not in JUDGED for item in items):
        return None
    return tuple(label for label in JUDGED if label in items)


def model_classifier(registry: Registry, variant: Variant, log_dir: Path, concurrency: int = 8) -> Classifier:
    template_hash = hashlib.sha256(TEMPLATE.encode()).hexdigest()[:16]
    classifier_id = f"model:{variant.name}:{variant.id}:{template_hash}"

    def run(prompts: Sequence[str | None], user_turns: np.ndarray) -> list[Tags]:
        texts = [p or "" for p in (prompts.to_pylist() if hasattr(prompts, "to_pylist") else prompts)]
        unique = sorted({t for t in texts if t})
        samples = [Sample(id=prompt_hash(t), question=t, target="") for t in unique]
        answers = asyncio.run(_ask(registry, variant, samples, log_dir, concurrency)) if samples else {}
        out = []
        for text, turns in zip(texts, np.asarray(user_turns).tolist(), strict=True):
            labels = parse_labels(answers.get(prompt_hash(text))) if text else ()
            extra = [n for n, hit in (("longer_query", len(text) >= LONG_CHARS), ("multi_turn", turns > 1)) if hit]
            out.append(Tags((*(labels or ()), *extra), (), classifier_id, prompt_hash(text), labels is not None))
        return out

    return run


async def _ask(registry: Registry, variant: Variant, samples: list[Sample], log_dir: Path,
               concurrency: int) -> dict[str, str]:
    async with ModelHub(registry) as hub:
        result = await run_eval(hub, variant, ClassifyTask(), samples, concurrency=concurrency, log_dir=log_dir)
    if result.stopped:
        raise JudgeError(f"classifier '{variant.name}' stopped early: {result.stopped} (log {result.log_path})")
    wanted = set(result.keys)
    return {r.id: r.response or "" for r in read_log(result.log_path).records.values() if r.key in wanted and r.ok}
