"""Alembic migrations of the store, shipped inside the package (see service.adapters.store.engine).

New revision, from a checkout with a database at head:
    .venv/bin/python -m service.migrations "<message>"
"""
