"""Alembic environment: always run with a connection handed in by `Database.upgrade`."""

from __future__ import annotations

from alembic import context

from bot.store import (  # noqa: F401  (register every table)
    models,
    models_console,
    models_feeds,
    models_slack,
    models_teams,
)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `leaderbot db upgrade`, which supplies a connection")

context.configure(
    connection=connection,
    target_metadata=models.Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
