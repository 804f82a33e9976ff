"""The arena's HTTP rules, in one place for both ways a request is served (the fast lane in fastlane.py and the
FastAPI routes): what a request must look like before anything reads it (body size, content type, origin), the
JSON body decoding, the rate limits, how an exception becomes an `{"error": message}` reply, and the security
headers every response carries (pages, JSON, server-sent events, static files, errors).

`ArenaApp.__call__` (fastlane.py) is the outermost ASGI layer: it wraps every HTTP request in an `Exchange`
before routing, so no route, fast or not, can miss a check. Header limits and the header timeout live one level
lower, in the HTTP protocol (server.py), because they must act before a request exists.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Send

from glassboard.arena.errors import ApiError, database_error
from glassboard.arena.integrity import RateLimiter
from glassboard.arena.settings import Settings
from glassboard.arena.shared import SharedState, SharedStateError
from glassboard.store.db import StoreError

log = logging.getLogger("glassboard.arena")

ErrorPage = Callable[[Request, int, str], Response]

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values of requests made by our own pages ("none": typed or bookmarked by the user).
OWN_FETCH_SITES = frozenset({b"same-origin", b"none"})
MAX_MESSAGE = 300  # characters of an error message; messages never quote request input at length
PAGE_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", PAGE_CSP),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
JSON_TYPE = (b"content-type", b"application/json")
DEFAULT_PORTS = {b"http": b":80", b"https": b":443"}
INTERNAL_ERROR = "Internal error: the server logged it and keeps serving."
# Tests of `--workers N` set this to see which process answered (header x-glassboard-pid); never set in production.
PID_HEADER_ENV = "GLASSBOARD_TEST_PID_HEADER"


@dataclass(slots=True)
class RequestHead:
    """The request headers the arena's rules read, from one pass over `scope["headers"]`."""

    content_length: bytes | None = None
    chunked: bool = False
    content_type: bytes | None = None
    origin: bytes | None = None
    fetch_site: bytes | None = None
    host: bytes | None = None
    cookies: list[bytes] = field(default_factory=list)


def read_head(headers: Iterable[tuple[bytes, bytes]]) -> RequestHead:
    head = RequestHead()
    for name, value in headers:
        if name == b"cookie":
            head.cookies.append(value)
        elif name == b"content-length":
            head.content_length = value
        elif name == b"content-type":
            head.content_type = value
        elif name == b"origin":
            head.origin = value
        elif name == b"sec-fetch-site":
            head.fetch_site = value
        elif name == b"host":
            head.host = value
        elif name == b"transfer-encoding":
            head.chunked = True
    return head


def _origin_key(origin: bytes) -> bytes:
    """scheme://host[:port], lower case, without a default port."""
    origin = origin.strip().rstrip(b"/").lower()
    scheme = origin.split(b"://", 1)[0]
    port = DEFAULT_PORTS.get(scheme)
    return origin[: -len(port)] if port and origin.endswith(port) else origin


class HttpRules:
    """The checks every request passes before a route sees it; built once per app from the settings."""

    def __init__(self, max_body: int, public_origins: Iterable[str] = (), pid_header: bool = False):
        self.max_body = max_body
        self.public_origins = frozenset(_origin_key(o.encode("latin-1")) for o in public_origins)
        # Added to every response: the security headers, plus this process's pid when a test asks for it.
        self.headers = SECURITY_HEADERS + (((b"x-glassboard-pid", str(os.getpid()).encode()),) if pid_header else ())

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpRules:
        return cls(4 * settings.max_prompt_chars + 4096, settings.public_origins,
                   pid_header=os.environ.get(PID_HEADER_ENV) == "1")

    def too_large(self) -> ApiError:
        return ApiError(413, f"The request is too large (over {self.max_body:,} bytes).",
                        {"connection": "close"})

    def refusal(self, scope: Message, head: RequestHead) -> ApiError | None:
        """Why this request is refused before its body is read (None: go on)."""
        if head.content_length is not None:
            if not head.content_length.isdigit():
                return ApiError(400, "The Content-Length header is not a number.", {"connection": "close"})
            if int(head.content_length) > self.max_body:
                return self.too_large()
        if scope["method"] not in STATE_CHANGING:
            return None
        if head.content_type is None:
            if head.chunked or head.content_length not in (None, b"0"):
                return ApiError(415, "A request body must be JSON, sent with 'Content-Type: application/json'.")
        elif head.content_type.split(b";", 1)[0].strip().lower() != b"application/json":
            return ApiError(415, "A request body must be JSON, sent with 'Content-Type: application/json'.")
        if head.fetch_site is not None and head.fetch_site not in OWN_FETCH_SITES:
            return ApiError(403, "Refused: this request was sent by a page of another site or origin.")
        if head.origin is not None and not self.own_origin(scope, head):
            return ApiError(403, "Refused: the request's Origin is neither this server nor a configured public "
                                 "origin (--public-origin).")
        return None

    def own_origin(self, scope: Message, head: RequestHead) -> bool:
        origin = _origin_key(head.origin or b"")
        if origin in self.public_origins:
            return True
        if head.host is None:
            return False
        return origin == _origin_key(scope["scheme"].encode("latin-1") + b"://" + head.host)


class Exchange:
    """One HTTP request as the arena answers it: the body is counted against the cap while it arrives (413 and
    the connection closed as soon as it passes, before any route or authentication looks at it), and every
    response gets the security headers."""

    __slots__ = ("_receive", "_send", "headers", "limit", "received", "refused", "started")

    def __init__(self, receive: Receive, send: Send, limit: int,
                 headers: tuple[tuple[bytes, bytes], ...] = SECURITY_HEADERS):
        self._receive, self._send, self.limit, self.headers = receive, send, limit, headers
        self.received = 0
        self.refused = self.started = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        body = message.get("body")
        if body:
            self.received += len(body)
            if self.received > self.limit:
                self.refused = True  # the route sees a client that went away; its replies are dropped
                if not self.started:
                    self.started = True
                    await self._send_json(413, {"error": f"The request is too large (over {self.limit:,} bytes)."},
                                          [(b"connection", b"close")])
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
            # A response that sets its own CSP (a published report: stricter, sandboxed) keeps it.
            own = [h for h in message.get("headers", ()) if h[0].lower() == b"content-security-policy"]
            message["headers"] = [*message.get("headers", ()),
                                  *(h for h in self.headers if not (own and h[0] == b"content-security-policy"))]
        await self._send(message)

    async def send_json(self, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        if not self.refused:
            self.started = True
            await self._send_json(status, data, headers or [])

    async def send_error(self, err: ApiError, cookie: bytes | None = None) -> None:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
        if cookie:
            headers.append((b"set-cookie", cookie))
        await self.send_json(err.status, {"error": capped(err.message)}, headers)

    async def _send_json(self, status: int, data: Any, headers: list[tuple[bytes, bytes]]) -> None:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        start = [JSON_TYPE, (b"content-length", str(len(body)).encode()), *headers, *self.headers]
        await self._send({"type": "http.response.start", "status": status, "headers": start})
        await self._send({"type": "http.response.body", "body": body})


def capped(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def string_field(body: bytes, name: str) -> str | None:
    """body[name] if the body is a JSON object whose `name` is a string; None for anything else (the FastAPI
    route then explains what is wrong); a 400 for JSON nested too deeply to decode."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    except RecursionError:
        raise too_deep() from None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def too_deep() -> ApiError:
    return ApiError(400, "The request body is JSON nested too deeply to read.")


def as_api_error(err: Exception, method: str, path: str) -> ApiError:
    """The reply to an exception: ApiError as raised, database trouble as 503, text that cannot be stored and
    over-deep JSON as 400, anything else as a logged 500 (the server keeps serving)."""
    if isinstance(err, ApiError):
        return err
    unavailable = database_error(err)
    if unavailable is not None:
        log.error("database error on %s %s: %s", method, path, err)
        return unavailable
    if isinstance(err, RedisError | SharedStateError):
        log.error("Redis error on %s %s: %s", method, path, err)
        return ApiError(503, "The arena's shared state (Redis) is unavailable, so this request was not recorded. "
                             "Try again in a moment.")
    if isinstance(err, UnicodeEncodeError):
        return ApiError(400, "The request contains text that is not valid Unicode (a lone surrogate code point).")
    if isinstance(err, RecursionError):
        return too_deep()
    log.exception("unhandled error on %s %s", method, path, exc_info=err)
    return ApiError(500, INTERNAL_ERROR)


async def check_rate(settings: Settings, limiter: RateLimiter | SharedState, action: str, voter: str,
                     ip: str | None) -> None:
    """429 with Retry-After when `voter` or `ip` is over its token bucket for `action` ('create' or 'vote'); the
    buckets are this process's (one server) or Redis' (replicas: one budget whichever replica is asked)."""
    if action == "create":
        per_voter, per_ip = settings.create_per_min_voter, settings.create_per_min_ip
    else:
        per_voter, per_ip = settings.vote_per_min_voter, settings.vote_per_min_ip
    if per_voter <= 0 and per_ip <= 0:
        return
    wait = await limiter.take(action, voter, ip, per_voter, per_ip)
    if wait:
        what = "battles started" if action == "create" else "votes"
        raise ApiError(429, f"Too many {what}: please wait {wait:.0f} s.", headers={"Retry-After": str(int(wait) + 1)})


def install_handlers(app: FastAPI, error_page: ErrorPage) -> None:
    """The FastAPI routes' exception handlers: the same mapping as the fast lane (`as_api_error`); JSON under /api
    and for clients that do not ask for HTML, `error_page` otherwise."""

    def respond(request: Request, err: ApiError) -> Response:
        message = capped(err.message)
        if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": message}, status_code=err.status, headers=err.headers)
        response = error_page(request, err.status, message)
        response.headers.update(err.headers)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Response:
        messages = {404: "Not found: there is no page or API route at this address.",
                    405: "This method is not allowed here.",
                    400: "The request body could not be read as JSON."}
        if isinstance(err.__cause__, RecursionError):
            return respond(request, too_deep())
        message = messages.get(err.status_code, str(err.detail))
        return respond(request, ApiError(err.status_code, message, getattr(err, "headers", None)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        problems = []
        for item in err.errors()[:5]:  # location and message only: the input is never echoed
            where = ".".join(str(p)[:40] for p in item.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {str(item.get('msg', 'invalid'))[:80]}")
        return respond(request, ApiError(422, "Invalid request: " + "; ".join(problems)))

    async def mapped(request: Request, err: Exception) -> Response:
        return respond(request, as_api_error(err, request.method, request.url.path))

    # By type, not only under Exception (whose handler Starlette runs and then re-raises).
    for kind in (ApiError, StoreError, DBAPIError, UnicodeEncodeError, RecursionError, Exception):
        app.add_exception_handler(kind, mapped)
