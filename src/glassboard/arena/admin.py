"""Admin API (token from --admin-token or GLASSBOARD_ADMIN_TOKEN): add and retire variants, export battles."""

from __future__ import annotations

import datetime as dt
import hmac
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from glassboard.arena.errors import ApiError

EXPORT_TYPES = {"jsonl": "application/x-ndjson", "json": "application/json", "parquet": "application/octet-stream"}


class VariantIn(BaseModel):
    """A variant definition: `name` plus the fields of a [models.NAME] table in glassboard.toml."""

    name: str
    spec: dict[str, Any]


def require_admin(request: Request) -> Any:
    st = request.app.state.arena
    expected = st.settings.admin_token
    if not expected:
        raise ApiError(403, "The admin API is disabled: start the server with --admin-token or GLASSBOARD_ADMIN_TOKEN.")
    given = request.headers.get("x-admin-token") or ""
    auth = request.headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "A valid admin token is required (header 'Authorization: Bearer TOKEN').")
    return st


def variant_from_spec(name: str, spec: dict[str, Any]) -> Any:
    """Validate a definition exactly as the registry file parser does (same fields, same messages)."""
    from glassboard.models.registry import parse_variant

    spec = dict(spec)
    spec.setdefault("added", dt.date.today().isoformat())
    spec.pop("retired", None)
    return parse_variant(Path("admin-api"), "", name, spec)


def with_admin_variants(registry: Any, store: Any) -> Any:
    """The registry plus the variants added through the admin API earlier (rebuilt from their stored spec)."""
    from glassboard.models import Registry
    from glassboard.models.types import ConfigError

    added = []
    for row in store.variants():
        if row["origin"] != "admin" or not row["spec"] or row["retired"] or row["name"] in registry:
            continue
        try:
            added.append(variant_from_spec(row["name"], row["spec"]))
        except ConfigError:
            continue  # a definition that no longer validates stays listed but is not served
    return Registry([*registry.variants, *added], source=registry.source) if added else registry


def install(app: FastAPI) -> None:
    router = APIRouter(prefix="/api/admin")

    @router.get("/variants")
    async def list_variants(request: Request) -> list[dict[str, Any]]:
        """Every variant ever seen, with its snapshot."""
        st = require_admin(request)
        return await st.read(st.store.variants)

    @router.post("/variants")
    async def add_variant(body: VariantIn, request: Request) -> dict[str, Any]:
        """Add a variant to the running arena (kept in the store, served again after a restart)."""
        from glassboard.models import Registry
        from glassboard.models.types import ConfigError

        st = require_admin(request)
        try:
            variant = variant_from_spec(body.name, body.spec)
            if body.name in st.registry or any(a in st.registry for a in variant.aliases):
                raise ConfigError(f"a variant named {body.name!r} (or one of its aliases) is already served")
            registry = Registry([*st.registry.variants, variant], source=st.registry.source)
            st.hub.registry = registry
            variant_id = variant.id
        except ConfigError as err:
            raise ApiError(422, str(err)) from None
        await st.write(st.store.sync_variants, [variant], "admin", body.spec)
        st.registry = registry
        await st.read(st.refresh_variants)
        return {"id": variant_id, "name": variant.name}

    @router.post("/variants/{name}/retire")
    async def retire(name: str, request: Request) -> dict[str, Any]:
        """Stop sampling a variant (by name or id); its battles and votes stay."""
        st = require_admin(request)
        ids = await st.write(st.store.retire_variant, name, st.today())
        if not ids:
            raise ApiError(404, f"No active variant named {name!r}.")
        await st.read(st.refresh_variants)
        return {"retired": ids, "date": st.today()}

    @router.get("/export")
    async def export(request: Request, format: str = "jsonl") -> FileResponse:
        """Download every voted battle in the LMArena schema (.jsonl, .json or .parquet)."""
        st = require_admin(request)
        if format not in EXPORT_TYPES:
            raise ApiError(422, f"Unknown export format {format!r}: use jsonl, json or parquet.")
        handle = tempfile.NamedTemporaryFile(suffix=f".{format}", delete=False)
        handle.close()
        await st.read(st.store.export, handle.name)
        return FileResponse(handle.name, media_type=EXPORT_TYPES[format], filename=f"battles.{format}",
                            background=BackgroundTask(Path(handle.name).unlink, missing_ok=True))

    app.include_router(router)
