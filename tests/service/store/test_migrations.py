"""Migrations: packaged, programmatic, and matching the ORM models on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from service.adapters.store import make_engine, migrations_current, upgrade_to_head
from service.adapters.store.engine import alembic_config, writer
from service.adapters.store.models import Base


def test_migrations_are_not_current_on_an_empty_database(empty_engine: Engine) -> None:
    assert not migrations_current(empty_engine)


def test_migrations_are_current_after_upgrade_and_a_second_upgrade_changes_nothing(
    empty_engine: Engine,
) -> None:
    upgrade_to_head(empty_engine)
    assert migrations_current(empty_engine)
    upgrade_to_head(empty_engine)
    assert migrations_current(empty_engine)
    assert {"alerts", "cds_feedback"} <= set(inspect(empty_engine).get_table_names())


def test_the_migrated_schema_is_exactly_the_orm_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_removes_the_tables_and_leaves_migrations_not_current(engine: Engine) -> None:
    with writer(engine).begin() as connection, alembic_config(connection) as config:
        command.downgrade(config, "base")
    assert not migrations_current(engine)
    assert not {"alerts", "cds_feedback"} & set(inspect(engine).get_table_names())


def test_migrations_run_from_the_installed_package_without_an_alembic_ini(
    database_url: str, tmp_path: Path
) -> None:
    script = (
        "import sys\n"
        "from service.adapters.store import make_engine, migrations_current, upgrade_to_head\n"
        "engine = make_engine(sys.argv[1])\n"
        "upgrade_to_head(engine)\n"
        "print(migrations_current(engine))\n"
    )
    # Another working directory: nothing may be looked up relative to the checkout.
    done = subprocess.run(
        [sys.executable, "-c", script, database_url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "True"
    engine = make_engine(database_url)
    try:
        assert migrations_current(engine)
    finally:
        engine.dispose()


def test_an_in_memory_sqlite_database_keeps_its_schema_across_connections() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade_to_head(engine)
        assert migrations_current(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_a_postgresql_url_without_driver_uses_the_installed_psycopg(scheme: str) -> None:
    engine = make_engine(f"{scheme}://osteoalert@db.example.org/osteoalert")  # no connection is made
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
