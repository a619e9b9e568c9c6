"""The Celery command line on `make_celery(Settings())`, without a module-level app:

    python -m worker worker --concurrency 2      (add -Q <queue> for a custom queue)
    python -m worker beat                        (subscription gap and silence checks)

Settings come from the OSTEOALERT_* environment, as for the HTTP service. Logging is osteoalert's
(JSON or text, redacted, at OSTEOALERT_LOG_LEVEL): Celery's own set-up is switched off, so its
--loglevel option has no effect.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from celery.signals import setup_logging

from service.observability.logging import configure_logging
from service.settings import Settings
from worker.celery_app import make_celery


def _keep_our_logging(**_: Any) -> None:
    """A receiver of `setup_logging`: Celery then leaves the logging configuration alone."""


def main(argv: Sequence[str] | None = None) -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    setup_logging.connect(_keep_our_logging, weak=False)
    app = make_celery(settings)
    app.start(argv=list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
