"""ASGI middleware: every request carries a verified voter id; a missing or forged cookie gets a new signed one."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any

from glassboard.arena.integrity import VoterCookies

ONE_YEAR = 365 * 24 * 3600


class VoterMiddleware:
    """Puts `request.state.voter` (a voter id) on each HTTP request and sets the cookie when it was new."""

    def __init__(self, app: Any, cookies: VoterCookies, cookie_name: str, secure: bool = False,
                 max_body: int = 1 << 20):
        self.app = app
        self.max_body = max_body
        self.cookies = cookies
        self.cookie_name = cookie_name
        self.secure = secure

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        value = None
        for name, header in scope["headers"]:
            if name == b"content-length" and header.isdigit() and int(header) > self.max_body:
                await _too_large(send, self.max_body)
                return
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(header.decode("latin-1"))
                except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
                    continue
                if self.cookie_name in jar:
                    value = jar[self.cookie_name].value
        voter = self.cookies.verify(value)
        new_cookie = None
        if voter is None:
            voter, new_cookie = self.cookies.new()
        scope.setdefault("state", {})["voter"] = voter
        if new_cookie is None:
            await self.app(scope, receive, send)
            return
        attributes = f"{self.cookie_name}={new_cookie}; Path=/; Max-Age={ONE_YEAR}; HttpOnly; SameSite=Lax"
        if self.secure:
            attributes += "; Secure"

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", attributes.encode("latin-1"))]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def _too_large(send: Any, limit: int) -> None:
    """413 before the body is read (the prompt limit is checked again, in characters, by the API)."""
    body = json.dumps({"error": f"The request is too large (over {limit:,} bytes)."}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
