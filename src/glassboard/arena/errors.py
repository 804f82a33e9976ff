"""ApiError and the exception handlers: JSON `{"error": message}` under /api, an HTML page elsewhere."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from glassboard.schema import GlassboardError

log = logging.getLogger("glassboard.arena")


class ApiError(GlassboardError):
    """A refused request: HTTP status and a message meant for the person using the arena."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def database_error(err: Exception) -> ApiError | None:
    """A 503 for a write the database refused or did not confirm (down, full, locked, writer process gone)."""
    from sqlalchemy.exc import DBAPIError

    from glassboard.store.db import StoreError

    if not isinstance(err, StoreError | DBAPIError):
        return None
    reason = str(err).splitlines()[0][:200]
    return ApiError(503, f"The database did not confirm this request ({type(err).__name__}: {reason}); it may not "
                         "have been recorded. Try again in a moment.")


def _respond(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    from glassboard.arena.pages import page

    response = page(request, "error.html", {"status": status, "message": message}, f"Error {status}", status)
    response.headers.update(headers or {})
    return response


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> Response:
        return _respond(request, err.status, err.message, err.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Response:
        messages = {404: "Not found: there is no page or API route at this address.",
                    405: "This method is not allowed here."}
        message = messages.get(err.status_code, str(err.detail))
        return _respond(request, err.status_code, message, getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        problems = []
        for item in err.errors()[:5]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        return _respond(request, 422, "Invalid request: " + "; ".join(problems))

    async def database(request: Request, err: Exception) -> Response:
        unavailable = database_error(err)
        assert unavailable is not None
        log.error("database error on %s %s: %s", request.method, request.url.path, err)
        return _respond(request, unavailable.status, unavailable.message)

    # Registered by type (not under Exception, whose handler Starlette runs and then re-raises).
    from sqlalchemy.exc import DBAPIError

    from glassboard.store.db import StoreError

    app.add_exception_handler(StoreError, database)
    app.add_exception_handler(DBAPIError, database)

    @app.exception_handler(Exception)
    async def crashed(request: Request, err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=err)
        return _respond(request, 500, "Internal error: the server logged it and keeps serving.")


