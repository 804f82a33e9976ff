"""Published reports, served read-only at `/reports` (a list) and `/reports/NAME` (one file), from the directory
given by `glassboard serve --reports DIR` (Settings.reports_dir; unset: the list says so and files are 404).

Why this is safe to expose: only GET (and HEAD) routes exist; a name is one path segment matching NAME_RE (no
slash, no leading dot, .html or .json), looked up among the directory's regular files by equality, never joined
into a path from the request, so `..`, encoded slashes and symlinks pointing out cannot reach another file. A
report is served with its own Content-Security-Policy, `sandbox` with no script allowance and nothing loadable
but inline styles and data: images: the report (glassboard report) needs nothing else, and a hostile HTML file
dropped into the directory runs no script and gets no access to the arena's origin (cookies, API).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from glassboard.arena.errors import ApiError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.(html|json)")
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'; sandbox")
TYPES = {"html": "text/html; charset=utf-8", "json": "application/json"}


@dataclass(frozen=True, slots=True)
class ReportFile:
    name: str
    size: int
    modified: str


def listing(directory: Path) -> list[ReportFile]:
    """The servable files of `directory` (regular files whose name matches NAME_RE; symlinks are left out)."""
    out = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if NAME_RE.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            stat = path.stat()
            out.append(ReportFile(path.name, stat.st_size,
                                  dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")))
    return out


def install(app: FastAPI, directory: str | None) -> None:
    """Add `/reports` and `/reports/{name}` (read-only) to the arena."""
    from glassboard.arena.pages import page

    folder = Path(directory).resolve() if directory else None

    @app.get("/reports", response_class=HTMLResponse, include_in_schema=False)
    async def reports_page(request: Request) -> HTMLResponse:
        files = listing(folder) if folder is not None else []
        return page(request, "reports.html", {"configured": folder is not None, "files": files}, "Reports")

    @app.get("/reports/{name}", include_in_schema=False)
    async def report_file(name: str) -> Response:
        if folder is None:
            raise ApiError(404, "No reports directory is configured (glassboard serve --reports DIR).")
        found = next((f for f in listing(folder) if f.name == name), None) if NAME_RE.fullmatch(name) else None
        if found is None:
            raise ApiError(404, "No such report.")
        body = (folder / found.name).read_bytes()
        return Response(body, media_type=TYPES[found.name.rsplit(".", 1)[1]],
                        headers={"content-security-policy": REPORT_CSP, "cache-control": "no-cache"})
