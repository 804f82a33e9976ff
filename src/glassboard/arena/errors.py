"""ApiError and the exception handlers: JSON `{"error": message}` under /api, an HTML page elsewhere."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

log = logging.getLogger("glassboard.arena")


class ApiError(Exception):
    """A refused request: HTTP status and a message meant for the person using the arena."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


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

    @app.exception_handler(Exception)
    async def crashed(request: Request, err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=err)
        return _respond(request, 500, "Internal error: the server logged it and keeps serving.")


