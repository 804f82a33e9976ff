"""Engines for SQLite (WAL, synchronous FULL or NORMAL) and PostgreSQL, and `upgrade(url)` running the migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from glassboard.schema import GlassboardError

DEFAULT_URL = "sqlite:///glassboard.db"
MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite durability in WAL mode. "full": a commit is flushed to disk before it returns, so an acknowledged vote
# survives a power cut. "normal": a commit survives the crash or kill of the server process, but the last commits
# can be lost if the machine itself goes down; it avoids one fsync per commit (whose tail on a virtual disk can
# reach hundreds of ms, see docs/arena.md "Speed").
SQLITE_SYNC_MODES = ("full", "normal")


class StoreError(GlassboardError, ValueError):
    """A database URL or database that the store cannot use; the message says which and why."""


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs (psycopg2 is not a dependency)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def make_engine(url: str, *, pool_size: int = 10, sqlite_sync: str = "full", auto_checkpoint: bool = True) -> Engine:
    """An engine tuned for the arena: SQLite in WAL mode (`sqlite_sync`: see SQLITE_SYNC_MODES), or PostgreSQL."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except Exception as err:  # sqlalchemy raises ArgumentError for malformed URLs
        raise StoreError(f"invalid database URL {url!r}: {err}") from None
    backend = parsed.get_backend_name()
    if sqlite_sync not in SQLITE_SYNC_MODES:
        raise StoreError(f"unknown SQLite sync mode {sqlite_sync!r}: use one of {', '.join(SQLITE_SYNC_MODES)}")
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:  # a DB-API connection (sqlite3)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sqlite_sync.upper()}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if not auto_checkpoint:  # a WalCheckpointer thread does it, off the writers' path
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise StoreError(f"use a psycopg 3 URL: postgresql+psycopg://... (got driver {parsed.get_driver_name()!r})")
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
    raise StoreError(f"unsupported database {backend!r} in {url!r}: use sqlite:///FILE or postgresql+psycopg://...")


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Bring the database schema up to `revision` with the packaged Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
