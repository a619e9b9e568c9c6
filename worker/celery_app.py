"""The worker's composition root: `make_celery(settings)` builds the Celery app and its tasks.

Conventions (pypi/warehouse-style): JSON only, explicit stable task names (`osteoalert.*`), ids
(never PHI) as arguments, `acks_late` with `task_reject_on_worker_lost` so a killed worker's task
is redelivered, a visibility timeout longer than any task, results ignored unless read.

Without `OSTEOALERT_REDIS_URL` the app runs tasks in-process (eager): the embedded default.
"""

from __future__ import annotations

from celery import Celery

from service.settings import Settings
from worker import probes, sweeps, tasks
from worker.context import WorkerContext


def make_celery(settings: Settings, *, context: WorkerContext | None = None) -> Celery:
    """`context` replaces the default `WorkerContext(settings)` (tests pin its clock)."""
    app = Celery("osteoalert", set_as_current=False)
    embedded = settings.redis_url is None
    app.conf.update(
        broker_url=settings.redis_url or "memory://",
        result_backend=settings.redis_url,  # only tasks that are read (chords) keep a result
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout_seconds},
        broker_connection_retry_on_startup=True,
        task_always_eager=embedded,
        task_eager_propagates=embedded,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    # Background path (issue 4): one queue for service and workers, and beat's recovery checks.
    app.conf.task_default_queue = settings.celery_queue
    interval = float(settings.notify_recovery_interval_seconds)
    app.conf.beat_schedule = {
        "osteoalert-check-subscriptions": {
            "task": "osteoalert.check_subscriptions",
            "schedule": interval,
            "options": {"queue": settings.celery_queue, "expires": interval},  # no pile-up after an outage
        },
    }
    context = context or WorkerContext(settings)
    tasks.register(app, context)
    sweeps.register(app, context)
    probes.install(app, context)  # GET /metrics, /healthz, /readyz of a running worker (issue 6)
    return app
