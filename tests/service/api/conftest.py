"""Fixtures of the HTTP tests: the store tests' databases (an empty SQLite file and PostgreSQL)."""

from tests.service.store.conftest import database_url, empty_engine, postgres_url  # noqa: F401
