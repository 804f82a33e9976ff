"""Section renderers, one small module each, keyed by the input kinds they recognise (report/inputs.py).

A renderer is `Renderer(kinds, render)`: `render(inputs, context)` gets every input of its kinds, in the order
given, and returns one `Section` (or None to skip). Sections appear in the order of `RENDERERS`.

Extension point: a new output kind is one module here with a `RENDERER`, added to `RENDERERS`; inputs.recognise
maps any JSON with an "audit" field naming it to "audit:<name>" (e.g. `audit context --json` -> "audit:context",
sections/context.py). Several renderers may take one kind: an arena database gives both the style-controlled
leaderboard (leaderboard.py) and the defended one (defended.py). An input no renderer takes is an error naming it.
"""

from __future__ import annotations

from glassboard.report.sections import (
    benchmarks,
    contamination,
    context,
    defended,
    identity,
    judge,
    leaderboard,
    manipulation,
    protocols,
    providers,
    selection,
)
from glassboard.report.sections.common import Context, Renderer

RENDERERS: tuple[Renderer, ...] = (
    benchmarks.RENDERER, leaderboard.RENDERER, defended.RENDERER, judge.RENDERER, identity.RENDERER,
    providers.RENDERER, contamination.RENDERER, context.RENDERER, protocols.RENDERER, manipulation.RENDERER,
    selection.RENDERER,
)

__all__ = ["RENDERERS", "Context", "Renderer"]
