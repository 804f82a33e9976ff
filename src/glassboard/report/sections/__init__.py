"""Section renderers, one small module each, keyed by the input kinds they recognise (report/inputs.py).

A renderer is `Renderer(kinds, render)`: `render(inputs, context)` gets every input of its kinds, in the order
given, and returns one `Section` (or None to skip). Sections appear in the order of `RENDERERS`.

Extension point: a new output kind (issue 13's `audit context` JSON with `cells`, effective length and verdict;
issue 15's judge audits) is one module here with a `RENDERER`, added to `RENDERERS`; inputs.recognise already maps
any JSON with an "audit" field to "audit:<name>", so `audit context --json` arrives as "audit:context". Neither
feature was on main when this package was written, so their inputs are reported as "no section renders this kind".
"""

from __future__ import annotations

from glassboard.report.sections import (
    benchmarks,
    contamination,
    context,
    identity,
    leaderboard,
    manipulation,
    protocols,
    providers,
    selection,
)
from glassboard.report.sections.common import Context, Renderer

RENDERERS: tuple[Renderer, ...] = (
    benchmarks.RENDERER, leaderboard.RENDERER, identity.RENDERER, providers.RENDERER, contamination.RENDERER,
    context.RENDERER, protocols.RENDERER, manipulation.RENDERER, selection.RENDERER,
)

__all__ = ["RENDERERS", "Context", "Renderer"]
