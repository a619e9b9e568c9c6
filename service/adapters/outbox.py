"""Durable hand-off of background work, and what happens when that work fails.

* `CeleryQueue`: the broker path (OSTEOALERT_REDIS_URL set). Publishes with `apply_async` (or
  `send_task` by name from the HTTP service, which never imports the worker), without publisher
  retries: a broker that is down raises `QueueUnavailableError` at once, so the notification is
  answered 503 and the EHR retries. Never 2xx-and-drop.
* The SQL outbox (embedded default): `SqlNotifyStore.accept` inserts the work in the transaction that
  accepts the notification; `OutboxDispatcher` drains it in-process with leases, so work survives a
  restart and a crashed run comes back when its lease ends.
* `classify_failure` and `retry_delay`: the one retry policy of the Celery tasks and the dispatcher.
  Transient (connect errors, timeouts, 408/429/5xx, broker or database down) → exponential backoff
  with jitter, never sooner than the server's Retry-After; anything else → recorded as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from celery import Celery
from kombu.exceptions import KombuError
from kombu.transport import redis as kombu_redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.adapters.fhir_client import FhirClientError
from service.adapters.store.engine import writer
from service.adapters.store.models import OutboxRow
from service.ports import BackgroundFailure, FailureLog, QueueUnavailableError, WorkItem
from service.settings import Settings

logger = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], Awaitable[object]]


class TaskObserver(Protocol):
    """Told of every attempt: task name, "succeeded" | "retried" | "failed", seconds, the handler's result."""

    def task_done(self, task: str, outcome: str, seconds: float, result: object = None) -> None: ...


BROKER_TIMEOUT_SECONDS = 2.0


# --- the retry policy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailureKind:
    transient: bool
    retry_after: float | None
    reason: str


def classify_failure(exc: BaseException) -> FailureKind:
    """Transient failures are retried; the others are recorded as failed with `reason`."""
    if isinstance(exc, FhirClientError):
        return FailureKind(exc.transient, exc.retry_after, str(exc))
    if isinstance(exc, (QueueUnavailableError, OperationalError, httpx.TransportError)):
        return FailureKind(True, None, f"{type(exc).__name__}: unavailable")
    return FailureKind(False, None, f"{type(exc).__name__}: {exc}")


def retry_delay(
    attempt: int,
    *,
    retry_after: float | None,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds before retry number `attempt` + 1 (attempt counts from 0).

    Exponential backoff capped at `cap`, with "equal jitter" (half fixed, half random) so that
    workers retrying after the same outage spread out; the server's Retry-After is a floor.
    """
    ceiling: float = min(cap, base * 2.0 ** min(attempt, 32))
    uniform = rng.uniform if rng is not None else random.uniform
    jitter = uniform(0.0, ceiling / 2)
    return max(ceiling / 2 + jitter, retry_after or 0.0)


def subject_of(kwargs: Mapping[str, Any]) -> str:
    """What a task was about, for the failure list (ids only)."""
    patient = kwargs.get("patient")
    if patient:
        return str(patient) if str(patient).startswith("Patient/") else f"Patient/{patient}"
    return str(kwargs.get("focus") or kwargs.get("subscription") or "-")


# --- the broker -------------------------------------------------------------------------------------------


class _PublishingChannel(kombu_redis.Channel):
    """kombu's Redis channel, keeping ONE client for its synchronous commands.

    kombu builds a new `redis.Redis` for every publish (about 50 µs of CPU: a dict of ~170 response
    callbacks, per message); the client is thread-safe and only wraps the channel's connection pool,
    so one per pool is enough. A new pool (the channel reconnected) gets a new client.
    """

    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        base: Any = super()  # kombu's private hook (untyped in the stubs)
        if asynchronous:
            return base._create_client(asynchronous=True)
        client = self._sync_client
        if client is None or client.connection_pool is not self.pool:
            client = self._sync_client = base._create_client(asynchronous=False)
        return client


class PublishingTransport(kombu_redis.Transport):
    """The Redis transport of the HTTP service's producer (see `_PublishingChannel`)."""

    Channel = _PublishingChannel


def make_producer(settings: Settings) -> Celery:
    """A Celery app that only publishes (the HTTP service's side of the broker)."""
    app = Celery("osteoalert-producer", set_as_current=False)
    app.conf.update(
        broker_url=settings.redis_url,
        broker_transport=PublishingTransport,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.celery_queue,
        broker_connection_retry=False,
        broker_connection_timeout=BROKER_TIMEOUT_SECONDS,
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout_seconds,
            "max_retries": 0,  # fail fast: the EHR retries, our request must not hang
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_timeout": BROKER_TIMEOUT_SECONDS,
        },
    )
    return app


class CeleryQueue:
    """TaskQueue on a Celery broker: ids only, JSON, one message per work item."""

    def __init__(self, app: Celery, *, queue: str) -> None:
        self._app = app
        self._queue = queue
        # Celery declares the queue with every message (kombu then copies and binds the Queue and
        # its Exchange each time, though it talks to the broker only once). Declared by the first
        # publish of this process; later ones go straight to it (a queue name, the anonymous exchange).
        self._declared = False

    @property
    def inline(self) -> bool:
        """Eager mode: `enqueue` runs the tasks here and now (see `SqlNotifyStore.accept`)."""
        return bool(self._app.conf.task_always_eager)

    def enqueue(self, items: Sequence[WorkItem]) -> None:
        try:
            for item in items:
                kwargs = dict(item.kwargs)
                task = self._app.tasks.get(item.task)
                if task is not None:  # registered here (a worker): apply_async honours eager mode
                    task.apply_async(kwargs=kwargs, queue=self._queue, retry=False)
                else:
                    declare: list[object] | None = [] if self._declared else None  # None: Celery's
                    self._app.send_task(
                        item.task, kwargs=kwargs, queue=self._queue, retry=False, declare=declare
                    )
                    self._declared = True
        except (KombuError, RedisError, OSError) as exc:
            raise QueueUnavailableError(f"the broker is unavailable ({type(exc).__name__})") from exc


# --- the outbox dispatcher (embedded default) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxTask:
    id: int
    task: str
    kwargs: dict[str, Any]
    key: str | None
    attempts: int


class SqlOutbox:
    """The outbox table (rows inserted by `SqlNotifyStore.accept`): leased, completed, rescheduled."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    def lease(self, now: datetime, *, limit: int, lease: timedelta) -> tuple[OutboxTask, ...]:
        """Due work, leased for `lease` (a crashed dispatcher's work comes back after it)."""
        with Session(self._writer) as session, session.begin():
            stmt = (
                select(OutboxRow)
                .where(
                    OutboxRow.available_at <= now,
                    OutboxRow.locked_until.is_(None) | (OutboxRow.locked_until <= now),
                )
                .order_by(OutboxRow.available_at, OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(stmt))
            for row in rows:
                row.locked_until = now + lease
            return tuple(OutboxTask(r.id, r.task, dict(r.kwargs), r.key, r.attempts) for r in rows)

    def complete(self, task_id: int) -> None:
        with self._writer.begin() as connection:
            connection.execute(delete(OutboxRow).where(OutboxRow.id == task_id))

    def reschedule(self, task_id: int, *, available_at: datetime, attempts: int) -> None:
        stmt = (
            update(OutboxRow)
            .where(OutboxRow.id == task_id)
            .values(available_at=available_at, attempts=attempts, locked_until=None)
        )
        with self._writer.begin() as connection:
            connection.execute(stmt)

    def size(self) -> int:
        with Session(self._engine) as session:
            return session.scalar(select(func.count()).select_from(OutboxRow)) or 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    base: float
    cap: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.worker_max_retries, settings.worker_retry_base_seconds, settings.worker_retry_max_seconds
        )


class OutboxDispatcher:
    """Runs the outbox's work in this process: lease, run the handler, delete; retry or record."""

    def __init__(
        self,
        outbox: SqlOutbox,
        handlers: Mapping[str, Handler],
        *,
        failures: FailureLog,
        policy: RetryPolicy,
        clock: Callable[[], datetime],
        poll_seconds: float = 1.0,
        batch: int = 16,
        lease: timedelta = timedelta(minutes=10),
        observer: TaskObserver | None = None,
    ) -> None:
        self._observer = observer  # metrics and one log event per attempt (service.observability)
        self._outbox = outbox
        self._handlers = handlers
        self._failures = failures
        self._policy = policy
        self._clock = clock
        self._poll = poll_seconds
        self._batch = batch
        self._lease = lease
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New work was accepted: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Drain forever (cancel the task to stop); a failing round is logged and retried."""
        while True:
            try:
                done = await self.drain_once()
            except Exception:
                logger.exception("outbox round failed")
                done = 0
            if done == 0:
                self._wake.clear()
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
                # arrives as the event is set, and shutdown then waits forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await self._wake.wait()

    async def drain_once(self) -> int:
        """Run one batch of due work concurrently; the number of tasks run."""
        tasks = await asyncio.to_thread(
            self._outbox.lease, self._clock(), limit=self._batch, lease=self._lease
        )
        if tasks:
            await asyncio.gather(*(self._run(task) for task in tasks))
        return len(tasks)

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Run due work until none is left (tests, shutdown); the number of tasks run."""
        total = 0
        for _ in range(max_rounds):
            done = await self.drain_once()
            if done == 0:
                break
            total += done
        return total

    async def _run(self, task: OutboxTask) -> None:
        handler = self._handlers.get(task.task)
        started = time.perf_counter()
        try:
            if handler is None:
                raise LookupError(f"no handler for task {task.task}")
            result = await handler(task.kwargs)
        except Exception as exc:
            outcome = await self._failed(task, exc)
            self._observe(task, outcome, started)
        else:
            await asyncio.to_thread(self._outbox.complete, task.id)
            self._observe(task, "succeeded", started, result)

    def _observe(self, task: OutboxTask, outcome: str, started: float, result: object = None) -> None:
        if self._observer is not None:
            self._observer.task_done(task.task, outcome, time.perf_counter() - started, result)

    async def _failed(self, task: OutboxTask, exc: Exception) -> str:
        kind = classify_failure(exc)
        attempts = task.attempts + 1
        if kind.transient and attempts <= self._policy.max_retries:
            delay = retry_delay(
                task.attempts, retry_after=kind.retry_after, base=self._policy.base, cap=self._policy.cap
            )
            logger.warning("%s: %s; retry %s in %.1f s", task.task, kind.reason, attempts, delay)
            at = self._clock() + timedelta(seconds=delay)
            await asyncio.to_thread(self._outbox.reschedule, task.id, available_at=at, attempts=attempts)
            return "retried"
        reason = kind.reason if not kind.transient else f"gave up after {attempts} attempts: {kind.reason}"
        logger.error("%s failed: %s", task.task, reason)
        failure = BackgroundFailure(task.task, subject_of(task.kwargs), reason, attempts, self._clock())
        await asyncio.to_thread(self._failures.record_failure, failure)
        await asyncio.to_thread(self._outbox.complete, task.id)
        return "failed"
