"""The background path inside the HTTP service: built at start-up by `service.main.create_app`.

With OSTEOALERT_REDIS_URL: notifications are published to the broker (`CeleryQueue` on a producer-only
Celery app) and Celery workers run the tasks (`worker.tasks`). Without it (the embedded default): the
work goes to the SQL outbox and an `OutboxDispatcher` task drains it in this process, running the
same use cases with the same retry policy, and a timer runs `check_subscriptions` as beat would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine as SqlEngine

from service.adapters.failure_log import SqlFailureLog
from service.adapters.fhir_auth import FhirConnection, auth_from_settings
from service.adapters.fhir_context import ContextPlan
from service.adapters.notify_store import SqlNotifyStore
from service.adapters.outbox import (
    CeleryQueue,
    Handler,
    OutboxDispatcher,
    RetryPolicy,
    SqlOutbox,
    make_producer,
)
from service.adapters.store import SqlAlertStore
from service.evaluation import Background, Engine, evaluate_patient
from service.notify import TASK_CHECK_SUBSCRIPTIONS, TASK_EVALUATE_PATIENT, TASK_RECOVER_EVENTS, Intake
from service.observability.metrics import Metrics
from service.observability.tasks import TaskTelemetry
from service.recovery import RecoveryPolicy, check_subscriptions, recover_events
from service.settings import Settings

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0  # how long shutdown waits for the dispatcher and the checks to stop


def wall_clock() -> datetime:
    return datetime.now(UTC)


def fhir_connection(settings: Settings, http: httpx.AsyncClient) -> FhirConnection | None:
    if settings.fhir_base_url is None:
        return None
    return FhirConnection(
        settings.fhir_base_url, http, auth_from_settings(settings), timeout=settings.fhir_timeout_seconds
    )


def build_background(
    settings: Settings, engine: Engine, *, database: SqlEngine, http: httpx.AsyncClient,
    clock: Callable[[], datetime],
) -> Background:  # fmt: skip
    """The dependencies of `evaluate_patient` (also used by the worker's context)."""
    plan = ContextPlan.build(
        engine.codesets, lab_days=settings.fhir_lab_lookback_days, dxa_days=settings.fhir_dxa_lookback_days
    )
    return Background(engine, fhir_connection(settings, http), plan, SqlAlertStore(database), clock)


def recovery_policy(settings: Settings) -> RecoveryPolicy:
    return RecoveryPolicy(
        heartbeat=timedelta(seconds=settings.notify_heartbeat_seconds),
        grace=timedelta(seconds=settings.notify_gap_grace_seconds),
        lookback=timedelta(seconds=settings.notify_recovery_lookback_seconds),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def task_handlers(
    bg: Background, intake: Intake, failures: SqlFailureLog, policy: RecoveryPolicy
) -> dict[str, Handler]:
    """Task name → use case, for the embedded dispatcher (the Celery tasks call the same ones)."""

    async def evaluate(kw: Mapping[str, Any]) -> object:
        return await evaluate_patient(bg, patient=_str(kw.get("patient")), focus=_str(kw.get("focus")))

    async def recover(kw: Mapping[str, Any]) -> object:
        return await recover_events(
            bg, intake, subscription=_str(kw.get("subscription")), first=_int(kw.get("first")),
            last=_int(kw.get("last")), since=_str(kw.get("since")),
        )  # fmt: skip

    async def check(_: Mapping[str, Any]) -> object:
        return await check_subscriptions(bg, intake, policy=policy, failures=failures)

    return {TASK_EVALUATE_PATIENT: evaluate, TASK_RECOVER_EVENTS: recover, TASK_CHECK_SUBSCRIPTIONS: check}


@dataclass
class BackgroundRuntime:
    """What the notification routes use, and what to stop at shutdown."""

    intake: Intake
    background: Background
    failures: SqlFailureLog
    token: str | None  # None: the notification endpoint is open
    token_header: str
    max_body_bytes: int
    dispatcher: OutboxDispatcher | None = None  # embedded default only
    outbox: SqlOutbox | None = None  # embedded default only
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def store(self) -> SqlNotifyStore:
        return self.intake.store

    async def aclose(self, *, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Cancel the background tasks and close what was opened; never waits longer than the grace.

        Work a task had leased is not lost when it is abandoned: its outbox lease runs out and the
        next start runs it again.
        """
        for task in self.tasks:
            task.cancel()
        done, pending = (
            await asyncio.wait(self.tasks, timeout=grace_seconds) if self.tasks else (set(), set())
        )
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                logger.error(
                    "background task %s had failed: %s", task.get_name(), type(task.exception()).__name__
                )
        for task in pending:
            logger.error(
                "background task %s did not stop in %.0f s: abandoned", task.get_name(), grace_seconds
            )
        for close in self.closers:
            close()


async def _every(seconds: float, run: Callable[[], Awaitable[object]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await run()
        except Exception:
            logger.exception("subscription check failed")


async def open_background(
    settings: Settings, engine: Engine, *, database: SqlEngine, http: httpx.AsyncClient,
    clock: Callable[[], datetime], now: Callable[[], datetime] = wall_clock, start: bool = True,
    metrics: Metrics | None = None,
) -> BackgroundRuntime:  # fmt: skip
    """Build the intake (broker or outbox) and, embedded, start the dispatcher and the checks.

    `clock` is the evaluation instant (tests pin it); `now` times claims, retries and silence.
    `start=False` leaves the dispatcher stopped (tests drain it by hand). `metrics`: the app's
    registry (notifications by kind and outcome; embedded task attempts and write-backs).
    """
    store = SqlNotifyStore(database)
    failures = SqlFailureLog(database)
    bg = build_background(settings, engine, database=database, http=http, clock=clock)
    lookback = timedelta(seconds=settings.notify_recovery_lookback_seconds)
    secret = settings.notify_token.get_secret_value() if settings.notify_token else ""
    token, header, limit = secret or None, settings.notify_token_header, settings.notify_max_body_bytes
    if settings.redis_url:
        producer = make_producer(settings)
        intake = Intake(
            store, CeleryQueue(producer, queue=settings.celery_queue), clock=now, lookback=lookback,
            metrics=metrics,
        )  # fmt: skip
        runtime = BackgroundRuntime(intake, bg, failures, token, header, limit)
        runtime.closers.append(producer.close)
        return runtime
    loop = asyncio.get_running_loop()
    dispatchers: list[OutboxDispatcher] = []

    def wake() -> None:  # runs in the intake's worker thread: hop onto the loop
        for dispatcher in dispatchers:
            loop.call_soon_threadsafe(dispatcher.wake)

    intake = Intake(store, None, clock=now, lookback=lookback, on_accept=wake, metrics=metrics)
    policy = recovery_policy(settings)
    handlers = task_handlers(bg, intake, failures, policy)
    outbox = SqlOutbox(database)
    dispatcher = OutboxDispatcher(
        outbox, handlers, failures=failures, policy=RetryPolicy.from_settings(settings), clock=now,
        observer=TaskTelemetry(metrics),
    )  # fmt: skip
    dispatchers.append(dispatcher)
    runtime = BackgroundRuntime(intake, bg, failures, token, header, limit, dispatcher, outbox)
    if start:
        check = handlers[TASK_CHECK_SUBSCRIPTIONS]
        runtime.tasks.append(asyncio.create_task(dispatcher.run()))
        runtime.tasks.append(
            asyncio.create_task(_every(settings.notify_recovery_interval_seconds, lambda: check({})))
        )
    return runtime
