"""What tasks need (engine, FHIR client, stores), built lazily once per worker process."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar

import httpx
from celery import Celery, Task
from sqlalchemy import Engine as SqlEngine

from service.adapters.codesets import load_codesets
from service.adapters.failure_log import SqlFailureLog
from service.adapters.notify_store import SqlNotifyStore
from service.adapters.outbox import CeleryQueue, classify_failure, retry_delay, subject_of
from service.adapters.store import make_engine
from service.background import build_background, recovery_policy
from service.evaluation import Background, Engine
from service.notify import Intake
from service.observability.logging import TASK_ID, task_context
from service.observability.metrics import Metrics
from service.observability.tasks import TaskTelemetry
from service.ports import BackgroundFailure
from service.recovery import RecoveryPolicy
from service.settings import Settings

T = TypeVar("T")
FHIR_CONNECTIONS = 4  # per worker process (see `WorkerContext.http`)
logger = logging.getLogger("worker")


def _now() -> datetime:
    return datetime.now(UTC)


async def _with_task_id(task_id: str | None, coro: Coroutine[Any, Any, T]) -> T:
    """`coro` on the loop thread, its log lines carrying the task id (context does not cross threads)."""
    TASK_ID.set(task_id)  # this coroutine runs in a Task of its own: the value dies with it
    return await coro


class LoopThread:
    """One asyncio loop on its own thread: tasks (sync, on any thread) run their coroutines on it, so
    the HTTP client and its connections are reused from task to task."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="osteoalert-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class WorkerContext:
    """Built in `make_celery`; adapters are created on first use inside the worker process
    (after fork), never at import time."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = _now) -> None:
        self.settings = settings
        self.clock = clock  # the evaluation instant (tests pin it); claims and retries use the wall clock

    @cached_property
    def engine(self) -> Engine:
        return Engine(load_codesets(self.settings.codesets_dir), self.settings.parameters())

    # --- background path (issue 4) -------------------------------------------------------------------

    @cached_property
    def database(self) -> SqlEngine:
        # Migrations are the service's job (it runs them at start-up); workers only use the schema.
        return make_engine(self.settings.database_url)

    @cached_property
    def store(self) -> SqlNotifyStore:
        return SqlNotifyStore(self.database)

    @cached_property
    def failures(self) -> SqlFailureLog:
        return SqlFailureLog(self.database)

    @cached_property
    def loop(self) -> LoopThread:
        return LoopThread()

    @cached_property
    def http(self) -> httpx.AsyncClient:
        # A pool process evaluates one patient at a time (~10 searches and a few writes). httpcore
        # scans every pooled connection (a socket poll for each idle one, and a quadratic idle count)
        # whenever a request starts or ends: with 20 connections that was ~3 ms of CPU per patient;
        # 4 keep the searches overlapping at a fraction of the cost.
        limits = httpx.Limits(max_connections=FHIR_CONNECTIONS, max_keepalive_connections=FHIR_CONNECTIONS)
        return httpx.AsyncClient(limits=limits, follow_redirects=False)

    @cached_property
    def background(self) -> Background:
        return build_background(
            self.settings, self.engine, database=self.database, http=self.http, clock=self.clock
        )

    @cached_property
    def recovery(self) -> RecoveryPolicy:
        return recovery_policy(self.settings)

    # --- telemetry (issue 6): this process's registry, exported by worker.probes ----------------------

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def telemetry(self) -> TaskTelemetry:
        return TaskTelemetry(self.metrics)

    def _done(
        self, task: Task[Any, Any], outcome: str, started: float, attempts: int, result: object = None
    ) -> None:
        self.telemetry.task_done(
            task.name, outcome, time.perf_counter() - started, result, task_id=task.request.id,
            attempts=attempts,
        )  # fmt: skip

    def intake(self, app: Celery) -> Intake:
        """Recovery hands its work over through the broker, with the same claims as the service."""
        lookback = timedelta(seconds=self.settings.notify_recovery_lookback_seconds)
        queue = CeleryQueue(app, queue=self.settings.celery_queue)
        return Intake(self.store, queue, clock=_now, lookback=lookback)

    def attempt(self, task: Task[Any, Any], make: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Run a use case for `task`: transient failures are retried with exponential backoff and
        jitter (never sooner than Retry-After); permanent ones and exhausted retries are recorded."""
        with task_context(task.request.id):  # every log line of the attempt carries the task id
            self._attempt(task, make)

    def _attempt(self, task: Task[Any, Any], make: Callable[[], Coroutine[Any, Any, object]]) -> None:
        retries = task.request.retries or 0
        settings = self.settings
        while True:
            started = time.perf_counter()
            try:
                result = self.loop.run(_with_task_id(task.request.id, make()))
                self._done(task, "succeeded", started, retries + 1, result)
                return
            except Exception as exc:
                kind = classify_failure(exc)
                if kind.transient and retries < settings.worker_max_retries:
                    countdown = retry_delay(
                        retries, retry_after=kind.retry_after,
                        base=settings.worker_retry_base_seconds, cap=settings.worker_retry_max_seconds,
                    )  # fmt: skip
                    logger.warning(
                        "%s: %s; retry %s in %.1f s", task.name, kind.reason, retries + 1, countdown
                    )
                    self._done(task, "retried", started, retries + 1)
                    if not task.request.is_eager:
                        raise task.retry(countdown=countdown, exc=exc, max_retries=None) from None
                    time.sleep(countdown)  # eager (tests, one-off runs): retry in place
                    retries += 1
                    continue
                self._failed(
                    task, kind.reason if not kind.transient else f"gave up: {kind.reason}", retries + 1
                )
                self._done(task, "failed", started, retries + 1)
                return

    def _failed(self, task: Task[Any, Any], reason: str, attempts: int) -> None:
        logger.error("%s failed after %s attempt(s): %s", task.name, attempts, reason)
        subject = subject_of(task.request.kwargs or {})
        self.failures.record_failure(BackgroundFailure(task.name, subject, reason, attempts, _now()))

    def close(self) -> None:
        """Release the loop, the HTTP client and the pool (tests; worker shutdown)."""
        if "loop" in self.__dict__:
            if "http" in self.__dict__:
                self.loop.run(self.http.aclose())
            self.loop.close()
        if "database" in self.__dict__:
            self.database.dispose()
