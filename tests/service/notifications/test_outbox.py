"""The retry policy and the embedded outbox dispatcher (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from service.adapters.failure_log import SqlFailureLog
from service.adapters.fhir_client import FhirClientError, retry_after_seconds
from service.adapters.notify_store import SqlNotifyStore
from service.adapters.outbox import OutboxDispatcher, RetryPolicy, SqlOutbox, classify_failure, retry_delay
from service.ports import QueueUnavailableError, WorkItem

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("attempt", range(12))
def test_retry_delays_grow_exponentially_with_jitter_up_to_the_cap(attempt: int) -> None:
    rng = random.Random(attempt)  # noqa: S311 - reproducible jitter
    delays = [retry_delay(attempt, retry_after=None, base=2.0, cap=300.0, rng=rng) for _ in range(50)]
    ceiling = min(300.0, 2.0 * 2**attempt)
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1  # jitter: workers retrying after one outage spread out


def test_retry_after_is_a_floor_of_the_delay() -> None:
    assert retry_delay(0, retry_after=30.0, base=2.0, cap=300.0) == 30.0
    assert retry_delay(10, retry_after=1.0, base=2.0, cap=300.0) >= 150.0


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (FhirClientError("FHIR server answered 503", status=503), True),
        (FhirClientError("FHIR server answered 429", status=429, retry_after=4.0), True),
        (FhirClientError("FHIR server timed out", transient=True), True),
        (FhirClientError("FHIR server answered 404", status=404), False),
        (FhirClientError("FHIR server answered 400", status=400), False),
        (QueueUnavailableError("down"), True),
        (OperationalError("SELECT 1", {}, Exception("gone")), True),
        (httpx.ConnectError("refused"), True),
        (ValueError("a bug"), False),
    ],
)
def test_failures_are_transient_or_permanent(exc: Exception, transient: bool) -> None:
    assert classify_failure(exc).transient is transient


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Flaky:
    """A handler failing `failures` times with `exc`, then succeeding."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.left = failures
        self.exc = exc
        self.calls: list[Mapping[str, Any]] = []

    async def __call__(self, kwargs: Mapping[str, Any]) -> object:
        self.calls.append(kwargs)
        if self.left > 0:
            self.left -= 1
            raise self.exc
        return None


@dataclass
class Parts:
    run: OutboxDispatcher
    outbox: SqlOutbox
    failures: SqlFailureLog


def dispatcher(engine: Engine, handler: Flaky, clock: Clock, max_retries: int = 3) -> Parts:
    item = WorkItem("osteoalert.evaluate_patient", {"patient": "v01"}, "k1")
    SqlNotifyStore(engine).accept(None, [item], NOW, queue=None)
    outbox, failures = SqlOutbox(engine), SqlFailureLog(engine)
    policy = RetryPolicy(max_retries=max_retries, base=1.0, cap=8.0)
    handlers = {"osteoalert.evaluate_patient": handler}
    return Parts(
        OutboxDispatcher(outbox, handlers, failures=failures, policy=policy, clock=clock), outbox, failures
    )


async def test_transient_failures_are_retried_later_then_the_work_is_done(engine: Engine) -> None:
    clock = Clock()
    handler = Flaky(2, FhirClientError("FHIR server answered 503", status=503, retry_after=5.0))
    parts = dispatcher(engine, handler, clock)
    assert await parts.run.drain() == 1
    assert await parts.run.drain() == 0  # not due yet: Retry-After says 5 s
    clock.now += timedelta(seconds=5)
    await parts.run.drain()
    clock.now += timedelta(seconds=10)
    await parts.run.drain()
    assert handler.calls == [{"patient": "v01"}] * 3
    assert (parts.outbox.size(), parts.failures.failure_count()) == (0, 0)


async def test_a_permanent_failure_is_recorded_at_once(engine: Engine) -> None:
    clock = Clock()
    parts = dispatcher(engine, Flaky(1, FhirClientError("FHIR server answered 404", status=404)), clock)
    await parts.run.drain()
    (failure,) = parts.failures.failures()
    assert (failure.task, failure.subject, failure.reason, failure.attempts) == (
        "osteoalert.evaluate_patient", "Patient/v01", "FHIR server answered 404", 1,
    )  # fmt: skip
    assert parts.outbox.size() == 0


async def test_retries_end_and_the_work_is_recorded_as_failed(engine: Engine) -> None:
    clock = Clock()
    parts = dispatcher(engine, Flaky(99, FhirClientError("FHIR server timed out", transient=True)), clock, 2)
    for _ in range(4):
        await parts.run.drain()
        clock.now += timedelta(minutes=1)
    (failure,) = parts.failures.failures()
    assert failure.attempts == 3
    assert failure.reason.startswith("gave up after 3 attempts")


async def test_leased_work_of_a_crashed_dispatcher_comes_back_after_the_lease(engine: Engine) -> None:
    SqlNotifyStore(engine).accept(None, [WorkItem("t", {"patient": "v01"})], NOW, queue=None)
    outbox = SqlOutbox(engine)
    assert len(outbox.lease(NOW, limit=10, lease=timedelta(minutes=10))) == 1
    assert outbox.lease(NOW + timedelta(minutes=9), limit=10, lease=timedelta(minutes=10)) == ()
    assert len(outbox.lease(NOW + timedelta(minutes=10), limit=10, lease=timedelta(minutes=10))) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("0", 0.0), ("Thu, 15 Jan 2026 12:00:30 GMT", 30.0), ("Thu, 15 Jan 2026 11:00:00 GMT", 0.0),
     ("soon", None), (None, None)],
)  # fmt: skip
def test_retry_after_is_read_as_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


async def test_a_dispatcher_woken_as_it_is_stopped_still_stops(engine: Engine) -> None:
    """Shutdown must not hang when new work arrives in the same instant (a notification accepted
    while the service stops): asyncio.wait_for of Python 3.11 swallowed that cancellation."""
    handlers = {"osteoalert.evaluate_patient": Flaky(0, ValueError("unused"))}
    policy = RetryPolicy(max_retries=1, base=1.0, cap=1.0)
    for _ in range(20):
        run = OutboxDispatcher(
            SqlOutbox(engine), handlers, failures=SqlFailureLog(engine), policy=policy, clock=Clock(),
            poll_seconds=0.05,
        )  # fmt: skip
        task = asyncio.create_task(run.run())
        await asyncio.sleep(0.01)  # idle: waiting to be woken
        run.wake()
        task.cancel()
        async with asyncio.timeout(2):
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
