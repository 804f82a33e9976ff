"""Inline SVG plots, written by hand: no fonts, scripts or images to fetch, readable when printed.

Every plot has a <title> and a <desc> (its text alternative, also shown as the figure's caption by the caller),
so a screen reader or a reader with images off gets the same information as the table next to it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

COLOURS = ("#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#555555")
ROW_H, LEFT, RIGHT, TOP = 22, 190, 20, 30


@dataclass(frozen=True, slots=True)
class Point:
    series: str
    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Curve:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    lows: tuple[float, ...] | None = None
    highs: tuple[float, ...] | None = None


def _f(x: float) -> str:
    return f"{x:.1f}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _frame(title: str, desc: str, width: int, height: int, body: list[str]) -> str:
    ident = "p" + hashlib.sha256(f"{title}\n{desc}".encode()).hexdigest()[:10]
    return (f'<svg role="img" aria-labelledby="{ident}t {ident}d" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="plot">'
            f'<title id="{ident}t">{escape(title)}</title><desc id="{ident}d">{escape(desc)}</desc>'
            + "".join(body) + "</svg>")


def _legend(series: Sequence[str], x: float, y: float) -> list[str]:
    out = []
    for i, name in enumerate(series):
        cx = x + i * 150
        out.append(f'<circle cx="{_f(cx)}" cy="{_f(y)}" r="4" fill="{COLOURS[i % len(COLOURS)]}"/>'
                   f'<text x="{_f(cx + 8)}" y="{_f(y + 4)}" font-size="11">{escape(name)}</text>')
    return out


def interval_plot(title: str, desc: str, rows: Sequence[Row], x_label: str, *, width: int = 640,
                  reference: float | None = None) -> str:
    """Dot-and-interval plot: one line per row, one dot with its 95% interval per series (offset vertically)."""
    series = list(dict.fromkeys(p.series for r in rows for p in r.points))
    values = [v for r in rows for p in r.points for v in (p.value, p.low, p.high) if v is not None]
    values += [reference] if reference is not None else []
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w = width - LEFT - RIGHT
    height = TOP + ROW_H * len(rows) + 45

    def x(v: float) -> float:
        return LEFT + (v - lo) / (hi - lo) * plot_w

    body = _legend(series, LEFT, 12)
    for t in _ticks(lo, hi):
        body.append(f'<line x1="{_f(x(t))}" x2="{_f(x(t))}" y1="{TOP}" y2="{TOP + ROW_H * len(rows)}" '
                    f'stroke="#ddd"/><text x="{_f(x(t))}" y="{TOP + ROW_H * len(rows) + 14}" font-size="10" '
                    f'text-anchor="middle">{t:g}</text>')
    if reference is not None:
        body.append(f'<line x1="{_f(x(reference))}" x2="{_f(x(reference))}" y1="{TOP}" '
                    f'y2="{TOP + ROW_H * len(rows)}" stroke="#000" stroke-dasharray="4 3"/>')
    for i, row in enumerate(rows):
        y0 = TOP + ROW_H * i + ROW_H / 2
        body.append(f'<text x="{LEFT - 8}" y="{_f(y0 + 4)}" font-size="11" text-anchor="end">'
                    f'{escape(row.label[:30])}</text>')
        for p in row.points:
            k = series.index(p.series)
            y = y0 + (k - (len(series) - 1) / 2) * min(5.0, 14 / max(len(series), 1))
            colour = COLOURS[k % len(COLOURS)]
            if p.low is not None and p.high is not None:
                body.append(f'<line x1="{_f(x(p.low))}" x2="{_f(x(p.high))}" y1="{_f(y)}" y2="{_f(y)}" '
                            f'stroke="{colour}" stroke-width="2"/>')
            body.append(f'<circle cx="{_f(x(p.value))}" cy="{_f(y)}" r="3.5" fill="{colour}"/>')
    body.append(f'<text x="{LEFT + plot_w / 2}" y="{height - 8}" font-size="11" text-anchor="middle">'
                f'{escape(x_label)}</text>')
    return _frame(title, desc, width, height, body)


def line_plot(title: str, desc: str, curves: Sequence[Curve], x_label: str, y_label: str, *, log_x: bool = False,
              invert_y: bool = False, width: int = 640, height: int = 300) -> str:
    """Lines with optional bands (low/high), e.g. a target's rank against malicious votes."""
    xs = [v for c in curves for v in c.xs]
    ys = [v for c in curves for v in (*c.ys, *(c.lows or ()), *(c.highs or ()))]
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)  # noqa: E731
    x_lo, x_hi = (tx(min(xs)), tx(max(xs))) if xs else (0.0, 1.0)
    y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 1, y_hi + 1
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    left, top, bottom = 60, 30, 40
    plot_w, plot_h = width - left - RIGHT, height - top - bottom

    def px(v: float) -> float:
        return left + (tx(v) - x_lo) / (x_hi - x_lo) * plot_w

    def py(v: float) -> float:
        share = (v - y_lo) / (y_hi - y_lo)
        return top + (share if invert_y else 1 - share) * plot_h

    body = _legend([c.label for c in curves], left, 12)
    body.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    for t in _ticks(y_lo, y_hi):
        body.append(f'<text x="{left - 6}" y="{_f(py(t) + 4)}" font-size="10" text-anchor="end">{t:g}</text>')
    for t in sorted({xs[0], xs[-1], *xs[:: max(1, len(xs) // 5)]}) if xs else []:
        body.append(f'<text x="{_f(px(t))}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle">{t:g}</text>')
    for k, c in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        if c.lows is not None and c.highs is not None:
            band = [f"{_f(px(a))},{_f(py(b))}" for a, b in zip(c.xs, c.highs, strict=True)]
            band += [f"{_f(px(a))},{_f(py(b))}" for a, b in reversed(list(zip(c.xs, c.lows, strict=True)))]
            body.append(f'<polygon points="{" ".join(band)}" fill="{colour}" fill-opacity="0.15" stroke="none"/>')
        line = " ".join(f"{_f(px(a))},{_f(py(b))}" for a, b in zip(c.xs, c.ys, strict=True))
        body.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
    body.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="11" text-anchor="middle">'
                f'{escape(x_label)}{" (log scale)" if log_x else ""}</text>')
    body.append(f'<text x="12" y="{top + plot_h / 2}" font-size="11" text-anchor="middle" '
                f'transform="rotate(-90 12 {_f(top + plot_h / 2)})">{escape(y_label)}</text>')
    return _frame(title, desc, width, height, body)


@dataclass(frozen=True, slots=True)
class Cell:
    """One heatmap cell: its column and row labels, a value in [0, 1] (None: nothing scored) and a mark ("T")."""

    column: str
    row: str
    value: float | None
    mark: str = ""


def _shade(value: float) -> str:
    """Red (0) through yellow (0.5) to green (1), as in RdYlGn."""
    v = min(1.0, max(0.0, value))
    low, mid, high = (0xd7, 0x30, 0x27), (0xfe, 0xe0, 0x8b), (0x1a, 0x98, 0x50)
    a, b, t = (low, mid, v * 2) if v < 0.5 else (mid, high, v * 2 - 1)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def heatmap(title: str, desc: str, columns: Sequence[str], rows: Sequence[str], cells: Sequence[Cell],
            x_label: str, y_label: str, *, cell_w: int = 64, cell_h: int = 26) -> str:
    """A grid of coloured cells (value 0 red .. 1 green) with the value written in each; a marked cell (e.g. "T",
    truncated by the provider) is grey and shows its mark; an empty cell is white with "–"."""
    left, top = 70, 34
    width = left + cell_w * len(columns) + RIGHT
    height = top + cell_h * len(rows) + 40
    body = []
    for j, column in enumerate(columns):
        body.append(f'<text x="{_f(left + cell_w * (j + 0.5))}" y="{top - 8}" font-size="10" '
                    f'text-anchor="middle">{escape(column)}</text>')
    for i, row in enumerate(rows):
        body.append(f'<text x="{left - 6}" y="{_f(top + cell_h * (i + 0.5) + 4)}" font-size="10" '
                    f'text-anchor="end">{escape(row)}</text>')
    for cell in cells:
        if cell.column not in columns or cell.row not in rows:
            continue
        x0, y0 = left + cell_w * columns.index(cell.column), top + cell_h * rows.index(cell.row)
        fill = "#bbbbbb" if cell.mark else "#ffffff" if cell.value is None else _shade(cell.value)
        text = cell.mark or ("–" if cell.value is None else f"{cell.value:.2f}")
        body.append(f'<rect x="{x0}" y="{y0}" width="{cell_w}" height="{cell_h}" fill="{fill}" stroke="#fff"/>'
                    f'<text x="{_f(x0 + cell_w / 2)}" y="{_f(y0 + cell_h / 2 + 4)}" font-size="11" '
                    f'text-anchor="middle">{escape(text)}</text>')
    body.append(f'<text x="{_f(left + cell_w * len(columns) / 2)}" y="{height - 10}" font-size="11" '
                f'text-anchor="middle">{escape(x_label)}</text>')
    body.append(f'<text x="12" y="{_f(top + cell_h * len(rows) / 2)}" font-size="11" text-anchor="middle" '
                f'transform="rotate(-90 12 {_f(top + cell_h * len(rows) / 2)})">{escape(y_label)}</text>')
    return _frame(title, desc, width, height, body)
