"""One contract suite, two databases: every store test runs on SQLite and on PostgreSQL.

PostgreSQL (127.0.0.1:5432, trust auth; override with PG_TEST_ADMIN_URL) gets a throwaway database
per test session, dropped at the end; each test starts from an empty schema. When PostgreSQL cannot
be reached the PostgreSQL half is SKIPPED with a loud reason in the summary, never silently.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service.adapters.store import make_engine, upgrade_to_head

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (psycopg does not know the `+psycopg` driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url = os.environ.get("PG_TEST_ADMIN_URL", DEFAULT_ADMIN_URL)
    name = f"osteoalert_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=3)
    except psycopg.Error as err:
        pytest.skip(
            f"!!! POSTGRESQL NOT TESTED: cannot reach {make_url(admin_url)!r} ({err}). "
            "Start PostgreSQL on 127.0.0.1:5432 or set PG_TEST_ADMIN_URL. !!!"
        )
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An EMPTY database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """A database of each backend, migrated to head."""
    upgrade_to_head(empty_engine)
    return empty_engine
