"""The voter cookie on every request: a verified voter id, and a new signed cookie when it is missing or forged."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from glassboard.arena.http import read_head
from glassboard.arena.integrity import VoterCookies

ONE_YEAR = 365 * 24 * 3600


class VoterGate:
    """Reads the voter cookie of a request, issuing a new one when it is missing or forged."""

    def __init__(self, cookies: VoterCookies, cookie_name: str, secure: bool = False):
        self.cookies = cookies
        self.cookie_name = cookie_name
        self.secure = secure

    def identify(self, cookie_headers: list[bytes]) -> tuple[str, bytes | None]:
        """(voter id, Set-Cookie header value to send or None when the request's cookie was valid)."""
        value = None
        for header in cookie_headers:
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
    """Puts `request.state.voter` (a voter id) on each FastAPI-routed request and sets the cookie when it was new."""

    def __init__(self, app: Any, gate: VoterGate):
        self.app = app
        self.gate = gate

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        voter, new_cookie = self.gate.identify(read_head(scope["headers"]).cookies)
        scope.setdefault("state", {})["voter"] = voter
        if new_cookie is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", new_cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
