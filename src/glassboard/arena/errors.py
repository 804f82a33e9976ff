"""ApiError, the arena's refusal of a request (status and a message for the person using the arena), and the 503
for a write the database did not confirm. How errors become replies is arena/http.py's job."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from glassboard.schema import GlassboardError
from glassboard.store.db import StoreError


class ApiError(GlassboardError):
    """A refused request: HTTP status and a message meant for the person using the arena."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def database_error(err: Exception) -> ApiError | None:
    """A 503 for a write the database refused or did not confirm (down, full, locked, writer process gone)."""
    if not isinstance(err, StoreError | DBAPIError):
        return None
    reason = str(err).splitlines()[0][:200]
    return ApiError(503, f"The database did not confirm this request ({type(err).__name__}: {reason}); it may not "
                         "have been recorded. Try again in a moment.")
