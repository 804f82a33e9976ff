"""ASGI middleware: every request carries a verified voter id; a missing or forged cookie gets a new signed one."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any

from glassboard.arena.integrity import VoterCookies

ONE_YEAR = 365 * 24 * 3600


class VoterGate:
    """Reads the voter cookie of a request (issuing a new one when it is missing or forged) and its body limit."""

    def __init__(self, cookies: VoterCookies, cookie_name: str, secure: bool = False, max_body: int = 1 << 20):
        self.cookies = cookies
        self.cookie_name = cookie_name
        self.secure = secure
        self.max_body = max_body

    def too_large(self, scope: dict[str, Any]) -> bool:
        """The declared body is over the limit (checked before reading it)."""
        for name, header in scope["headers"]:
            if name == b"content-length" and header.isdigit() and int(header) > self.max_body:
                return True
        return False

    def identify(self, scope: dict[str, Any]) -> tuple[str, bytes | None]:
        """(voter id, Set-Cookie header value to send or None when the request's cookie was valid)."""
        value = None
        for name, header in scope["headers"]:
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(header.decode("latin-1"))
                except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
                    continue
                if self.cookie_name in jar:
                    value = jar[self.cookie_name].value
        voter = self.cookies.verify(value)
        if voter is not None:
            return voter, None
        voter, new_cookie = self.cookies.new()
        attributes = f"{self.cookie_name}={new_cookie}; Path=/; Max-Age={ONE_YEAR}; HttpOnly; SameSite=Lax"
        if self.secure:
            attributes += "; Secure"
        return voter, attributes.encode("latin-1")


class VoterMiddleware:
    """Puts `request.state.voter` (a voter id) on each HTTP request and sets the cookie when it was new."""

    def __init__(self, app: Any, gate: VoterGate):
        self.app = app
        self.gate = gate

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        if self.gate.too_large(scope):
            await send_too_large(send, self.gate.max_body)
            return
        voter, new_cookie = self.gate.identify(scope)
        scope.setdefault("state", {})["voter"] = voter
        if new_cookie is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", new_cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def send_too_large(send: Any, limit: int) -> None:
    """413 before the body is read (the prompt limit is checked again, in characters, by the API)."""
    body = json.dumps({"error": f"The request is too large (over {limit:,} bytes)."}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
