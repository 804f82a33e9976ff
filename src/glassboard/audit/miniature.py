"""The Llama 4 episode in miniature: real answers from two variants, judged by simulated style-loving voters."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from glassboard.models.types import ModelError

# Chatty prompts, the kind an arena sees most; the chat persona shows its style most on them.
CHAT_PROMPTS = (
    "Say hello to me.",
    "Give a friendly greeting to a new colleague.",
    "Write a motivational quote for Monday morning.",
    "Wish me a happy birthday!",
    "Cheer me up, I had a long day.",
    "Congratulate me on my new job!",
)


def style_score(text: str) -> float:
    """What the simulated voters like: emoji, markdown and length (no notion of correctness at all)."""
    from glassboard.rating.textstats import style_counts

    c = style_counts(text)
    markdown = sum(c[f"h{i}"] for i in range(1, 7)) + c["ordered"] + c["unordered"] + c["**"] + c["__"]
    return 1.0 * min(c["emoji"], 5) + 0.5 * min(markdown, 5) + 0.02 * c["tokens"]


def simulated_votes(
    answers_a: Sequence[tuple[str, str]],
    answers_b: Sequence[tuple[str, str]],
    names: tuple[str, str],
    *,
    voters: int = 20,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Battles in the LMArena schema: each (prompt, answer) pair is judged by `voters` simulated voters.

    A voter prefers the answer with the higher `style_score`: P(first wins) = sigmoid(score_1 - score_2),
    sides are randomised per vote, and the conversations are stored so the rating library counts style itself.
    """
    rng = random.Random(seed)
    battles = []
    for (prompt, text_a), (prompt_b, text_b) in zip(answers_a, answers_b, strict=True):
        assert prompt == prompt_b, "answers must be aligned by prompt"
        p_a = 1.0 / (1.0 + math.exp(-(style_score(text_a) - style_score(text_b))))
        for v in range(voters):
            a_wins = rng.random() < p_a
            first, second = ((names[0], text_a), (names[1], text_b))
            if rng.random() < 0.5:  # random sides, as the arena does
                first, second, a_wins = second, first, not a_wins
            battles.append({
                "model_a": first[0], "model_b": second[0], "winner": "model_a" if a_wins else "model_b",
                "conversation_a": [{"role": "user", "content": prompt}, {"role": "assistant", "content": first[1]}],
                "conversation_b": [{"role": "user", "content": prompt}, {"role": "assistant", "content": second[1]}],
                "voter": f"simulated-{v}", "category": "simulated",
            })
    return battles


async def answers(
    model: Any, prompts: Sequence[str], samples: int, *, max_tokens: int, seed: int
) -> list[tuple[str, str]]:
    """`samples` real answers per prompt at the variant's own temperature, seeded per (prompt, sample)."""
    from glassboard.audit.identity import derive_seed

    out = []
    for i, prompt in enumerate(prompts):
        for j in range(samples):
            try:
                text = (await model.complete(prompt, max_tokens=max_tokens,
                                             seed=derive_seed(seed, "miniature", i, j))).text
            except ModelError as err:
                if err.kind != "empty":
                    raise
                text = ""
            out.append((prompt, text))
    return out


async def miniature_battles(
    hub: Any,
    released: str = "smollm2-135m",
    arena_variant: str = "smollm2-135m-chat-exp",
    *,
    prompts: Sequence[str] = CHAT_PROMPTS,
    samples: int = 2,
    max_tokens: int = 40,
    voters: int = 20,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Generate both variants' answers to the same prompts and have simulated voters judge them."""
    a = await answers(hub.get(released), prompts, samples, max_tokens=max_tokens, seed=seed)
    b = await answers(hub.get(arena_variant), prompts, samples, max_tokens=max_tokens, seed=seed)
    return simulated_votes(a, b, (hub.get(released).name, hub.get(arena_variant).name), voters=voters, seed=seed)
