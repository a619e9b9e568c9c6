"""Never lose an event: gaps are recovered through $events or a search by _lastUpdated, silence
triggers a $status check, a subscription in error is reported (the FHIR double plays the EHR)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
from sqlalchemy import Engine

from service.adapters.failure_log import SqlFailureLog
from service.adapters.notify_store import SqlNotifyStore
from service.adapters.outbox import SqlOutbox
from service.evaluation import Background
from service.notify import TASK_EVALUATE_PATIENT, TASK_RECOVER_EVENTS, Intake
from service.recovery import RecoveryPolicy, check_subscriptions, recover_events
from tests.fhir_double import FhirDouble

FHIR_JSON = "application/fhir+json"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
POLICY = RecoveryPolicy(heartbeat=timedelta(hours=1), grace=timedelta(seconds=30), lookback=timedelta(days=1))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def failures(sqlite_engine: Engine) -> SqlFailureLog:
    return SqlFailureLog(sqlite_engine)


@pytest.fixture
def intake(sqlite_engine: Engine, clock: Clock) -> Intake:
    return Intake(SqlNotifyStore(sqlite_engine), None, clock=clock, lookback=timedelta(days=1))


def queued(intake: Intake) -> list[tuple[str, dict[str, Any]]]:
    outbox = SqlOutbox(intake.store.engine)
    tasks = outbox.lease(NOW + timedelta(days=9), limit=100, lease=timedelta(minutes=1))
    for t in tasks:
        outbox.complete(t.id)
    return [(t.task, t.kwargs) for t in tasks]


def deliver(intake: Intake, double: FhirDouble, *numbers: int, kind: str = "event-notification") -> None:
    body = orjson.dumps(double.notification("s1", kind=kind, numbers=numbers, content="id-only"))
    intake.receive(body, content_type=FHIR_JSON)


def lost_events(double: FhirDouble, intake: Intake) -> None:
    """Events 1-3 happen on the server; only 1 and 3 reach us."""
    deliver(intake, double, kind="handshake")
    for oid in ("v01-obs1", "v04-obs1", "v01-obs2"):
        double.add_event("s1", f"Observation/{oid}")
    deliver(intake, double, 1)
    deliver(intake, double, 3)
    queued(intake)


async def test_a_gap_is_recovered_through_events_operation(
    background: Background, double: FhirDouble, intake: Intake, failures: SqlFailureLog, clock: Clock
) -> None:
    lost_events(double, intake)
    clock.now += timedelta(minutes=1)
    report = await check_subscriptions(background, intake, policy=POLICY, failures=failures)
    assert report.recovered_events == 1
    ((task, kwargs),) = queued(intake)
    assert (task, kwargs["subscription"], kwargs["first"], kwargs["last"]) == (
        TASK_RECOVER_EVENTS, "Subscription/s1", 2, 2,
    )  # fmt: skip
    handed = await recover_events(
        background, intake, subscription="Subscription/s1", first=2, last=2, since=kwargs["since"]
    )
    assert handed == 1
    assert queued(intake) == [(TASK_EVALUATE_PATIENT, {"focus": "Observation/v04-obs1"})]
    # A second round finds nothing more to recover, and a late delivery of event 2 is a repeat.
    assert (
        await check_subscriptions(background, intake, policy=POLICY, failures=failures)
    ).recovered_events == 0
    deliver(intake, double, 2)
    assert queued(intake) == []


async def test_without_events_operation_a_search_by_last_updated_finds_the_patients(
    background: Background, double: FhirDouble, intake: Intake
) -> None:
    double.events_supported = False
    double.add_event("s1", "Observation/v04-obs1")
    handed = await recover_events(
        background, intake, subscription="Subscription/s1", first=1, last=1, since="2026-01-14T11:55:00Z"
    )
    searches = [
        path for method, path in double.requests if method == "GET" and path.startswith("/Observation?")
    ]
    assert len(searches) >= 1 and "_lastUpdated=ge2026-01-14T11:55:00Z" in unquote(searches[0])
    assert handed == 2  # both vignette patients have recent results
    assert sorted(kw["patient"] for _, kw in queued(intake)) == ["v01", "v04"]


async def test_the_search_uses_the_subscriptions_own_filter_criteria(
    background: Background, double: FhirDouble, intake: Intake
) -> None:
    double.events_supported = False
    double.put({
        "resourceType": "Subscription", "id": "s1", "status": "active", "criteria": "http://x/topic",
        "_criteria": {"extension": [{
            "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria",
            "valueString": "Observation?code=http://loinc.org|1751-7",
        }]},
        "channel": {"type": "rest-hook"},
    })  # fmt: skip
    await recover_events(
        background, intake, subscription="Subscription/s1", first=1, last=1, since="2026-01-01"
    )
    searches = [path for _, path in double.requests if path.startswith("/Observation?")]
    assert searches and "1751-7" in searches[0] and "17861-6" not in searches[0]


async def test_a_silent_subscription_gets_a_status_check_that_reveals_lost_events(
    background: Background, double: FhirDouble, intake: Intake, failures: SqlFailureLog, clock: Clock
) -> None:
    deliver(intake, double, kind="handshake")
    double.add_event("s1", "Observation/v01-obs1")  # sent by the EHR, never received
    clock.now += timedelta(hours=2)
    report = await check_subscriptions(background, intake, policy=POLICY, failures=failures)
    assert report.status_checks == 1
    assert ("GET", "/Subscription/s1/$status") in double.requests
    assert report.recovered_events == 0  # just learnt: recovered once the grace period has passed
    clock.now += timedelta(minutes=1)
    report = await check_subscriptions(background, intake, policy=POLICY, failures=failures)
    assert (report.status_checks, report.recovered_events) == (0, 1)  # checked within the period already
    assert [task for task, _ in queued(intake)] == [TASK_RECOVER_EVENTS]


async def test_a_subscription_the_server_reports_in_error_is_recorded_as_failed(
    background: Background, double: FhirDouble, intake: Intake, failures: SqlFailureLog, clock: Clock
) -> None:
    deliver(intake, double, kind="handshake")
    double.subscriptions["s1"].status = "error"
    clock.now += timedelta(hours=2)
    await check_subscriptions(background, intake, policy=POLICY, failures=failures)
    (failure,) = failures.failures()
    assert (failure.subject, failure.reason) == (
        "Subscription/s1",
        "the FHIR server reports the subscription error",
    )


async def test_a_status_check_that_fails_transiently_is_tried_again_at_the_next_round(
    background: Background, double: FhirDouble, intake: Intake, failures: SqlFailureLog, clock: Clock
) -> None:
    deliver(intake, double, kind="handshake")
    clock.now += timedelta(hours=2)
    double.fail_next(1, status=503, path="/Subscription")
    assert (
        await check_subscriptions(background, intake, policy=POLICY, failures=failures)
    ).status_checks == 1
    assert failures.failures() == ()
    assert (
        await check_subscriptions(background, intake, policy=POLICY, failures=failures)
    ).status_checks == 1
    state = intake.store.subscription("Subscription/s1")
    assert state is not None and state.status_checked_at == clock.now
