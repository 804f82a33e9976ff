"""The arena serves published reports read-only at /reports over real HTTP (uvicorn on loopback): the list, each
file with its own sandboxed CSP plus the arena's security headers, no way out of the directory, no writes, the
link from the transparency page, and the page that says when no directory is configured."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arena_fixtures import ArenaServer, scripted_registry, settings_for

REPORT = ('<!DOCTYPE html><html><head><style>body{color:#111}</style></head><body><h1>A report</h1>'
          '<svg role="img"><title>plot</title><circle cx="5" cy="5" r="3"/></svg></body></html>')


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "report.html").write_text(REPORT)
    (folder / "report.manifest.json").write_text('{"manifest": 1}')
    (folder / ".hidden.html").write_text("hidden")
    (folder / "notes.txt").write_text("not a report")
    (tmp_path / "secret.html").write_text("SECRET outside the directory")
    (folder / "link.html").symlink_to(tmp_path / "secret.html")
    return folder


@pytest.fixture
def server(tmp_path: Path, scripted_server, reports: Path) -> Iterator[ArenaServer]:  # noqa: ANN001
    settings = settings_for(f"sqlite:///{tmp_path / 'arena.db'}", scripted_registry(scripted_server, {"alpha": "ok",
                            "beta": "ok"}), reports_dir=str(reports))
    with ArenaServer(settings) as running:
        yield running


def raw_get(port: int, target: str) -> bytes:
    """A GET with the request target sent byte for byte (no client-side normalisation of `..` or `%2F`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_reports_are_listed_and_served_read_only_with_a_sandboxed_csp(server: ArenaServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        listing = client.get("/reports")
        assert listing.status_code == 200
        assert 'href="/reports/report.html"' in listing.text and "report.manifest.json" in listing.text
        assert ".hidden" not in listing.text and "notes.txt" not in listing.text and "link.html" not in listing.text
        page = client.get("/reports/report.html")
        assert page.status_code == 200 and page.text == REPORT
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers.get_list("content-security-policy")
        assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                       "form-action 'none'; frame-ancestors 'none'; sandbox"]  # its own, not the arena's
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
        manifest = client.get("/reports/report.manifest.json")
        assert manifest.json() == {"manifest": 1} and manifest.headers["content-type"] == "application/json"
        assert "'self'" in client.get("/reports").headers["content-security-policy"]  # the list is an arena page
        for method in ("POST", "PUT", "DELETE"):
            assert client.request(method, "/reports/report.html", json={}).status_code in (403, 405)
        transparency = client.get("/transparency").text
        assert 'href="/reports"' in transparency


@pytest.mark.parametrize("target", [
    "/reports/../secret.html", "/reports/..%2Fsecret.html", "/reports/%2E%2E/secret.html",
    "/reports/link.html", "/reports/.hidden.html", "/reports/notes.txt", "/reports/%2e%2e%2fsecret.html",
    "/reports/..%5Csecret.html", "/reports/report.html%00.json", "/reports//etc/passwd",
])
def test_nothing_outside_the_directory_or_unlisted_is_served(server: ArenaServer, target: str) -> None:
    answer = raw_get(server.port, target)
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 404), answer[:200]
    assert b"SECRET" not in answer and b"hidden" not in answer.split(b"\r\n\r\n", 1)[-1]


def test_without_a_reports_directory_the_page_says_so(tmp_path: Path, scripted_server) -> None:  # noqa: ANN001
    settings = settings_for(f"sqlite:///{tmp_path / 'arena.db'}", scripted_registry(scripted_server, {"alpha": "ok",
                            "beta": "ok"}))
    with ArenaServer(settings) as running, httpx.Client(base_url=running.url) as client:
        listing = client.get("/reports")
        assert listing.status_code == 200 and "glassboard serve --reports DIR" in listing.text
        missing = client.get("/reports/report.html")
        assert missing.status_code == 404 and "No reports directory is configured" in missing.text
