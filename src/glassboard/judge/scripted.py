"""Scripted contestants and judges with known behaviour, on a loopback OpenAI-compatible server (tests, benchmarks).

The variant's `model` field is the script, `key=value` pairs joined by `;`:
  /contestant/v1  model "q=0.5;words=60;fam=acme": answers `[q=0.5 fam=acme]` plus filler words; the word count
                  varies per prompt (x0.5 .. x1.5, seeded by the prompt) so length effects are identifiable.
                  (q and fam are the hidden truth a scripted judge reads; a real judge would not see them.)
  /judge/v1       model "position=0.8;verbosity=1.5;self=acme;boost=1;noise=1;bad=0.1": reads the two answers
                  from the judge prompt (the built-in template's markers) and draws "A preferred" with
                  logit P = noise * (qA - qB) + position + verbosity * log2(tokensA / tokensB)
                                + boost * ([famA = self] - [famB = self]),
                  with lengths in tokens counted as the rating library does (so the audits can recover the bias);
                  `position=always` always answers [[A>B]]; `bad` is the share of verdicts left unparsable.
Randomness is seeded by the request's text, so a rerun gives the same verdicts (and resumed runs agree).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from glassboard.rating.textstats import style_counts

_TAG = re.compile(r"\[q=(-?[\d.]+) fam=([\w-]*)\]")
_SECTION = re.compile(r"\[Answer ([AB])\]\n(.*?)\n\[End of answer \1\]", re.S)


def script(model: str) -> dict[str, str]:
    """The `key=value;...` script of a scripted variant."""
    return dict(part.split("=", 1) for part in model.split(";") if "=" in part)


def _rng(text: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))


def contestant_answer(spec: dict[str, str], prompt: str) -> str:
    rng = _rng(prompt + "|" + spec.get("fam", "") + spec.get("q", ""))
    words = max(1, round(float(spec.get("words", 40)) * rng.uniform(0.5, 1.5)))
    return f"[q={spec.get('q', '0')} fam={spec.get('fam', '')}] " + " ".join(["word"] * words)


def judge_answer(spec: dict[str, str], prompt: str) -> str:
    rng = _rng(prompt)
    if rng.random() < float(spec.get("bad", 0)):
        return "Both answers have merits; I cannot decide."
    if spec.get("position") == "always":
        return "A reads better.\n[[A>B]]"
    sections = dict(_SECTION.findall(prompt))
    a, b = sections.get("A", ""), sections.get("B", "")
    qa, fa, qb, fb = *_tag(a), *_tag(b)
    wa, wb = max(1.0, style_counts(a)["tokens"]), max(1.0, style_counts(b)["tokens"])
    logit = float(spec.get("noise", 1)) * (qa - qb) + float(spec.get("position", 0))
    logit += float(spec.get("verbosity", 0)) * math.log2(wa / wb)
    own = spec.get("self")
    if own:
        logit += float(spec.get("boost", 1)) * ((fa == own) - (fb == own))
    p_a = 1.0 / (1.0 + math.exp(-logit))
    a_wins = rng.random() < p_a
    strong = rng.random() < 0.3
    label = ("A>>B" if strong else "A>B") if a_wins else ("B>>A" if strong else "B>A")
    return f"My reasoning is brief.\n[[{label}]]"


def _tag(answer: str) -> tuple[float, str]:
    match = _TAG.search(answer)
    return (float(match.group(1)), match.group(2)) if match else (0.0, "")


def build_app() -> Starlette:
    async def chat(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        user = next((m.get("content") for m in reversed(body.get("messages") or []) if m.get("role") == "user"), "")
        spec = script(str(body.get("model", "")))
        role = request.path_params["role"]
        text = contestant_answer(spec, str(user)) if role == "contestant" else judge_answer(spec, str(user))
        return _reply(body, text)

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    return Starlette(routes=[Route("/{role}/v1/chat/completions", chat, methods=["POST"]),
                             Route("/{role}/v1/models", models)])


def _reply(body: dict[str, Any], text: str) -> Response:
    """A non-streamed completion, or the whole answer as one SSE chunk (the model layer streams)."""
    import json

    if not body.get("stream"):
        return JSONResponse({
            "id": "x", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 10},
        })
    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    usage: dict[str, Any] = {
        "id": "x", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"), "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 10}}
    payload = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n"
    return Response(payload, media_type="text/event-stream")
