"""Write a new migration: `python -m service.migrations "add x" [--url sqlite:///./dev.db]`.

The database is first upgraded to head, then Alembic compares it with the ORM models and writes the
differences as a new revision into this package's versions/ folder: review it, then `ruff check --fix`
and `ruff format` it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from alembic import command

from service.adapters.store.engine import alembic_config, make_engine, upgrade_to_head, writer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.migrations")
    parser.add_argument("message", help="what the migration does")
    parser.add_argument("--url", default="sqlite:///./osteoalert-dev.db", help="scratch database URL")
    args = parser.parse_args(argv)
    engine = make_engine(args.url)
    upgrade_to_head(engine)
    with writer(engine).begin() as connection, alembic_config(connection) as config:
        command.revision(config, message=args.message, autogenerate=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
