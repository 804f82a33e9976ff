"""Server-rendered pages (Jinja2, autoescape on): the arena, the leaderboard with its CI plot, transparency."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from glassboard.arena.api import current_board, transparency_view
from glassboard.arena.categories import leaderboard_extras

TEMPLATES = Path(__file__).parent / "templates"


def make_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    env.filters["date"] = lambda ts: dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d") if ts else ""
    env.filters["pct"] = lambda x: f"{100 * x:.1f}%"
    env.filters["num"] = lambda x, digits=0: "–" if x is None else f"{x:.{digits}f}"
    return env


def render_page(request: Request, template: str, context: dict[str, Any], title: str) -> str:
    env = getattr(request.app.state, "templates", None) or make_environment()
    return env.get_template(template).render(title=title, path=request.url.path, **context)


def page(request: Request, template: str, context: dict[str, Any], title: str, status: int = 200) -> HTMLResponse:
    """The rendered page (its security headers are added for every response by arena/http.py)."""
    return HTMLResponse(render_page(request, template, context, title), status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", {"status": status, "message": message}, f"Error {status}", status)


def ci_plot(rows: list[dict[str, Any]], width: int = 720) -> dict[str, Any] | None:
    """Coordinates of the interval plot: one line per model, raw (top) and style-controlled (bottom)."""
    values = [v for r in rows for k in ("ci_low", "ci_high", "style_ci_low", "style_ci_high")
              if isinstance(v := r.get(k), int | float) and math.isfinite(v)]
    if not values:
        return None
    low, high = min(values), max(values)
    pad = max(10.0, (high - low) * 0.05)
    low, high = low - pad, high + pad
    left, right, row_h = 190, width - 20, 34

    def x(v: float | None) -> float | None:
        return None if v is None else round(left + (v - low) / (high - low) * (right - left), 1)

    lines = []
    for i, r in enumerate(rows):
        y = 30 + i * row_h
        lines.append({
            "y": y, "label": r["model"],
            "raw": (x(r.get("ci_low")), x(r.get("rating")), x(r.get("ci_high"))),
            "style": (x(r.get("style_ci_low")), x(r.get("style_rating")), x(r.get("style_ci_high"))),
        })
    step = 10 ** math.floor(math.log10(max(high - low, 1) / 2))
    step *= 5 if (high - low) / step > 20 else 2 if (high - low) / step > 8 else 1
    ticks = [{"x": x(t), "label": f"{t:.0f}"} for t in
             (step * k for k in range(math.ceil(low / step), math.floor(high / step) + 1))]
    return {"width": width, "height": 50 + len(rows) * row_h, "lines": lines, "ticks": ticks, "left": left,
            "right": right}


def install(app: FastAPI) -> None:
    app.state.templates = make_environment()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def arena_page(request: Request) -> HTMLResponse:
        settings = request.app.state.arena.settings
        return page(request, "arena.html", {"max_prompt": settings.max_prompt_chars}, "Arena")

    @app.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
    async def leaderboard_page(request: Request, category: str | None = None) -> HTMLResponse:
        st = request.app.state.arena
        board = await current_board(st)
        # --- issue 15: the category selector (human board of one category) and the separate judged boards ---
        extras = await leaderboard_extras(st, st.categories, category)
        if extras["category_board"] is not None:
            board = extras["category_board"]
        return page(request, "leaderboard.html", {"board": board, "plot": ci_plot(board.rows), **extras},
                    "Leaderboard")

    @app.get("/transparency", response_class=HTMLResponse, include_in_schema=False)
    async def transparency_page(request: Request) -> HTMLResponse:
        data = await transparency_view(request.app.state.arena)
        return page(request, "transparency.html", {"data": data}, "Transparency")
