"""Admin API (token from --admin-token or GLASSBOARD_ADMIN_TOKEN): add and retire variants, export battles.

Variants added here are checked against the operator's allow-lists (`AdminPolicy`), because an admin token reaches
the server's environment, network and disk only through them (registry-file variants are operator config and are
trusted as before):
- `api_key_env` only names a variable starting with GLASSBOARD_KEY_ or one listed at start-up (--admin-key-env):
  otherwise the server would send any secret it holds (DB_PASSWORD, the cookie secret) as a Bearer token.
- `base_url`: its host is resolved and refused if any address is link-local (169.254/16, fe80::/10, which holds
  the cloud metadata services), a known metadata address (100.100.100.200, fd00:ec2::254), unspecified, multicast
  or reserved; IPv4-mapped IPv6 and numeric forms such as http://2852039166/ are resolved like any name. URLs with
  credentials (user:password@) are refused. --allow-private-endpoints lifts both rules. Loopback and private
  (RFC 1918) addresses are allowed: self-hosted model servers live there. The check happens when the variant is
  added and again at each start; a name re-pointed later (DNS rebinding) is not caught.
- `model` (llama_cpp): only 'bundled:smollm2-135m' or a file under the models directory (--models-dir; symlinks
  resolved), and the refusal reads the same whether or not the file exists.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import logging
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from glassboard.arena.errors import ApiError

log = logging.getLogger("glassboard.arena")
KEY_PREFIX = "GLASSBOARD_KEY_"
METADATA_ADDRESSES = frozenset(map(ipaddress.ip_address, ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")))
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


@dataclass(frozen=True)
class AdminPolicy:
    """What an admin-added variant may reach (see the module docstring); the defaults are the strictest."""

    key_envs: frozenset[str] = frozenset()
    models_dir: Path | None = None
    allow_private_endpoints: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> AdminPolicy:
        models_dir = Path(settings.models_dir).expanduser().resolve() if settings.models_dir else None
        return cls(frozenset(settings.admin_key_envs), models_dir, settings.allow_private_endpoints)

    def check(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec with a local model path made absolute, or ConfigError naming the field (may resolve DNS)."""
        from glassboard.models.registry import BUNDLED_MODEL
        from glassboard.models.types import ConfigError

        def fail(key: str, message: str) -> ConfigError:
            return ConfigError(f"admin-api: field 'models.{name}.{key}': {message}")

        spec = dict(spec)
        env = spec.get("api_key_env")
        if isinstance(env, str) and not (env.startswith(KEY_PREFIX) or env in self.key_envs):
            raise fail("api_key_env", f"{env!r} is not an allowed key variable: use a name starting with "
                       f"{KEY_PREFIX} or one the operator listed with --admin-key-env")
        if isinstance(spec.get("base_url"), str) and not self.allow_private_endpoints:
            problem = endpoint_problem(spec["base_url"])
            if problem:
                raise fail("base_url", f"{problem} (start the server with --allow-private-endpoints to allow it)")
        model = spec.get("model")
        if spec.get("backend") == "llama_cpp" and isinstance(model, str) and model != BUNDLED_MODEL:
            refusal = fail("model", f"local weights must be a file under the models directory (--models-dir), "
                                    f"or {BUNDLED_MODEL!r}")
            if self.models_dir is None:
                raise refusal
            path = Path(model).expanduser()
            path = (path if path.is_absolute() else self.models_dir / path).resolve()
            if not path.is_relative_to(self.models_dir):
                raise refusal
            spec["model"] = str(path)
        return spec


def endpoint_problem(url: str) -> str | None:
    """Why an admin may not point a variant at `url` (credentials, link-local or metadata host), or None."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed (use api_key_env)"
    host = parts.hostname
    if not host:
        return f"no host in {url!r}"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as err:
        return f"cannot resolve the host {host!r}: {err}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if (address in METADATA_ADDRESSES or address.is_link_local or address.is_unspecified
                or address.is_multicast or address.is_reserved):
            return f"the host {host!r} resolves to {address}, a link-local, metadata or reserved address"
    return None


def variant_from_spec(name: str, spec: dict[str, Any], policy: AdminPolicy | None = None) -> Any:
    """Check a definition against the admin allow-lists, then validate it exactly as the registry file parser does
    (same fields, same messages)."""
    from glassboard.models.registry import parse_variant

    spec = (policy or AdminPolicy()).check(name, spec)
    spec.setdefault("added", dt.date.today().isoformat())
    spec.pop("retired", None)
    return parse_variant(Path("admin-api"), "", name, spec)


def with_admin_variants(registry: Any, store: Any, policy: AdminPolicy | None = None) -> Any:
    """The registry plus the variants added through the admin API earlier (rebuilt from their stored spec, checked
    against today's allow-lists)."""
    from glassboard.models import Registry
    from glassboard.models.types import ConfigError

    added = []
    for row in store.variants():
        if row["origin"] != "admin" or not row["spec"] or row["retired"] or row["name"] in registry:
            continue
        try:
            added.append(variant_from_spec(row["name"], row["spec"], policy))
        except ConfigError as err:
            log.warning("admin-added variant %r is not served: %s", row["name"], err)
            continue  # a definition that no longer validates stays listed but is not served
    return Registry([*registry.variants, *added], source=registry.source) if added else registry


def _checked_variant(name: str, spec: dict[str, Any], policy: AdminPolicy) -> tuple[Any, str]:
    variant = variant_from_spec(name, spec, policy)
    return variant, variant.id


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
        policy = AdminPolicy.from_settings(st.settings)
        try:
            # Off the event loop: the checks resolve host names and the variant id hashes a weights file.
            variant, variant_id = await asyncio.get_running_loop().run_in_executor(
                None, _checked_variant, body.name, body.spec, policy)
            if body.name in st.registry or any(a in st.registry for a in variant.aliases):
                raise ConfigError(f"a variant named {body.name!r} (or one of its aliases) is already served")
            registry = Registry([*st.registry.variants, variant], source=st.registry.source)
            st.hub.registry = registry
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
