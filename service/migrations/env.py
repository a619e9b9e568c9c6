"""Alembic environment: runs on the connection handed over by service.adapters.store.engine.

`config.attributes["connection"]` is always set by our code (upgrade_to_head, migrations_current,
`python -m service.migrations`); there is no URL lookup here and no alembic.ini.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from service.adapters.store.models import Base


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through service.adapters.store.engine.upgrade_to_head")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place: batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
