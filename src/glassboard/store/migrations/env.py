"""Alembic environment: runs on the connection handed over by `glassboard.store.db.upgrade`, or on a URL."""

from __future__ import annotations

from alembic import context

from glassboard.store.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from glassboard.store.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///glassboard.db")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
