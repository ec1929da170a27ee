"""Alembic environment of the workspace database: migrations run on the connection `review.db.upgrade` passes."""

from __future__ import annotations

from alembic import context

from review.schema import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `review.db.upgrade` runs migrations
    raise RuntimeError("run migrations through review.db.upgrade (it passes the connection)")
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
