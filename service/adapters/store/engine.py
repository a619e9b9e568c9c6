"""Engines and migrations: SQLite by default, PostgreSQL when the URL says so.

Migrations run from the installed package (`service/migrations`), with Alembic configured in code:
no alembic.ini is needed at runtime.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.resources import as_file, files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Insert, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from service.adapters.store.models import Base

MIGRATIONS_PACKAGE = "service.migrations"
# Execution option asking the SQLite begin hook for a write transaction (BEGIN IMMEDIATE).
SQLITE_WRITE = "osteoalert_sqlite_write"
_SQLITE_BUSY_MS = 5000


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and explicit transaction control."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):  # the installed driver, not psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    in_memory = parsed.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:  # one connection, or every checkout would see a new empty database
        kwargs["poolclass"] = StaticPool
    engine = create_engine(parsed, **kwargs)
    _configure_sqlite(engine, wal=not in_memory)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    # pysqlite's implicit transactions start late and deadlock on lock upgrade under concurrent writers
    # (SQLITE_BUSY at once, busy timeout ignored): SQLAlchemy's documented recipe takes control of BEGIN.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:  # readers (patient-view) never wait for a writer (a worker's upsert)
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(SQLITE_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The engine for read-write transactions (takes SQLite's write lock up front; a no-op elsewhere)."""
    return engine.execution_options(**{SQLITE_WRITE: True})


@contextmanager
def alembic_config(connection: Connection) -> Iterator[Config]:
    with as_file(files(MIGRATIONS_PACKAGE)) as location:
        config = Config()
        config.set_main_option("script_location", str(location))
        config.attributes["connection"] = connection
        yield config


def upgrade_to_head(engine: Engine) -> None:
    """Apply every pending migration (idempotent; safe to call at each start-up)."""
    with writer(engine).begin() as connection, alembic_config(connection) as config:
        command.upgrade(config, "head")


def migrations_current(engine: Engine) -> bool:
    """True when the database is at the head revision of the packaged migrations (for /readyz)."""
    with engine.connect() as connection, alembic_config(connection) as config:
        heads = set(ScriptDirectory.from_config(config).get_heads())
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def insert_ignoring_conflicts(
    engine: Engine, table: type[Base], rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
) -> Insert:
    """`INSERT … ON CONFLICT (conflict) DO NOTHING`, in the dialect of `engine`."""
    match engine.dialect.name:
        case "postgresql":
            return pg_insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=conflict)
        case "sqlite":
            return sqlite_insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=conflict)
        case other:
            raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {other}")
