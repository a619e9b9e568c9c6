"""The intake: each notification becomes the right durable work (ids only), once; subscription state
is recorded; gaps in event numbers are found. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from service.adapters.notify_store import SqlNotifyStore
from service.adapters.outbox import SqlOutbox
from service.notify import PING_SUBSCRIPTION, TASK_EVALUATE_PATIENT, TASK_RECOVER_EVENTS, Intake
from service.ports import QueueUnavailableError, WorkItem
from tests.fhir_double import FhirDouble
from tests.service.notifications.conftest import backport

FHIR_JSON = "application/fhir+json"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
ENCOUNTER = "Encounter/86009987-eabe-42bf-8c02-b112b18cb616"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def intake(engine: Engine, clock: Clock | None = None) -> Intake:
    return Intake(SqlNotifyStore(engine), None, clock=clock or Clock(), lookback=timedelta(days=1))


def outbox(store: SqlNotifyStore) -> list[tuple[str, dict[str, Any]]]:
    return [
        (t.task, t.kwargs)
        for t in SqlOutbox(store.engine).lease(NOW + timedelta(days=1), limit=100, lease=timedelta(minutes=1))
    ]


@pytest.mark.parametrize(
    ("name", "work"),
    [
        ("handshake_bundle_example.json", []),
        ("heartbeat_bundle_example.json", []),
        (
            "empty_notification_bundle_example.json",
            [(TASK_RECOVER_EVENTS, {"subscription": "Subscription/123", "first": 1, "last": 1})],
        ),
        ("id_only_notification_bundle_example.json", [(TASK_EVALUATE_PATIENT, {"focus": ENCOUNTER})]),
        (
            "full_resource_notification_bundle_example.json",
            [(TASK_EVALUATE_PATIENT, {"patient": "1599eb66-431a-447c-a3de-6897fe9ae9a1"})],
        ),
        (
            "empty_notification_bundle_non_conformant_example.json",
            [(TASK_RECOVER_EVENTS, {"subscription": "Subscription/admission", "first": 1, "last": 1})],
        ),
    ],
)
def test_each_backport_example_enqueues_the_right_work(
    engine: Engine, shared_fixtures: Path, name: str, work: list[tuple[str, dict[str, Any]]]
) -> None:
    receiver = intake(engine)
    receipt = receiver.receive(backport(shared_fixtures, name), content_type=FHIR_JSON)
    assert receipt.accepted == len(work)
    queued = outbox(receiver.store)
    assert [(task, {k: v for k, v in kw.items() if k != "since"}) for task, kw in queued] == work
    for _, kwargs in queued:  # ids and instants only: nothing of the patient's data travels
        assert set(kwargs) <= {"patient", "focus", "subscription", "first", "last", "since"}


def test_handshakes_and_heartbeats_are_recorded_not_evaluated(engine: Engine, shared_fixtures: Path) -> None:
    receiver = intake(engine)
    receiver.receive(backport(shared_fixtures, "handshake_bundle_example.json"), content_type=FHIR_JSON)
    receiver.receive(backport(shared_fixtures, "heartbeat_bundle_example.json"), content_type=FHIR_JSON)
    state = receiver.store.subscription("Subscription/123")
    assert state is not None
    assert (state.handshakes, state.heartbeats, state.events) == (1, 1, 0)
    assert (state.handshake_at, state.last_heartbeat_at, state.status) == (NOW, NOW, "active")
    assert state.server_count == 2  # the heartbeat said two events were sent
    assert outbox(receiver.store) == []


def test_the_same_event_delivered_three_times_is_enqueued_once(engine: Engine, shared_fixtures: Path) -> None:
    receiver = intake(engine)
    body = backport(shared_fixtures, "id_only_notification_bundle_example.json")
    receipts = [receiver.receive(body, content_type=FHIR_JSON) for _ in range(3)]
    assert [(r.accepted, r.repeats) for r in receipts] == [(1, 0), (0, 1), (0, 1)]
    assert len(outbox(receiver.store)) == 1


def test_the_same_resource_version_posted_twice_is_enqueued_once_and_a_new_version_again(
    engine: Engine,
) -> None:
    receiver = intake(engine)

    def post(version: str) -> int:
        resource = {"resourceType": "Observation", "id": "ca1", "meta": {"versionId": version},
                    "status": "final", "code": {}, "subject": {"reference": "Patient/v01"}}  # fmt: skip
        return receiver.receive(
            orjson.dumps(resource), content_type=FHIR_JSON, path_type="Observation"
        ).accepted

    assert [post("1"), post("1"), post("2")] == [1, 0, 1]
    assert [kw for _, kw in outbox(receiver.store)] == [{"patient": "v01"}, {"patient": "v01"}]


def test_an_r4_ping_asks_for_a_search_since_the_previous_ping(engine: Engine) -> None:
    clock = Clock()
    receiver = intake(engine, clock)
    receiver.receive(b"", content_type=None)
    clock.now += timedelta(hours=2)
    receiver.receive(b"", content_type=None)
    receiver.receive(b"", content_type=None, subscription_hint="Subscription/s9")
    first, second, named = (kw for _, kw in outbox(receiver.store))
    assert first == {"subscription": None, "since": "2026-01-14T11:55:00Z"}  # the look-back, 5 min earlier
    assert second == {"subscription": None, "since": "2026-01-15T11:55:00Z"}  # the first ping, 5 min earlier
    assert named == {"subscription": "Subscription/s9", "since": "2026-01-14T13:55:00Z"}  # its own state
    state = receiver.store.subscription(PING_SUBSCRIPTION)
    assert state is not None and state.last_event_at == NOW + timedelta(hours=2)


class DownQueue:
    def enqueue(self, items: Sequence[WorkItem]) -> None:  # noqa: ARG002 - the TaskQueue signature
        raise QueueUnavailableError("broker down")


def test_work_the_broker_refused_is_not_remembered_so_the_retry_is_taken(
    engine: Engine, shared_fixtures: Path
) -> None:
    store = SqlNotifyStore(engine)
    body = backport(shared_fixtures, "id_only_notification_bundle_example.json")
    down = Intake(store, DownQueue(), clock=Clock(), lookback=timedelta(days=1))
    with pytest.raises(QueueUnavailableError):
        down.receive(body, content_type=FHIR_JSON)
    up = Intake(store, None, clock=Clock(), lookback=timedelta(days=1))
    assert up.receive(body, content_type=FHIR_JSON).accepted == 1


def _event(double: FhirDouble, receiver: Intake, numbers: tuple[int, ...], subscription: str = "s1") -> None:
    bundle = double.notification(subscription, numbers=numbers, content="id-only")
    receiver.receive(orjson.dumps(bundle), content_type=FHIR_JSON)


def test_missing_event_numbers_become_gaps_after_the_grace_period(engine: Engine) -> None:
    double = FhirDouble()
    clock = Clock()
    receiver = intake(engine, clock)
    receiver.receive(orjson.dumps(double.notification("s1", kind="handshake")), content_type=FHIR_JSON)
    for n in range(1, 8):  # the server produces 7 events; 3, 6 and 7 never reach us
        double.add_event("s1", f"Observation/o{n}")
    for numbers in ((1,), (2,), (5,), (4,)):
        _event(double, receiver, numbers)
    receiver.receive(orjson.dumps(double.notification("s1", kind="heartbeat")), content_type=FHIR_JSON)
    store = receiver.store
    grace = timedelta(seconds=30)
    assert store.gaps("Subscription/s1", now=clock.now, grace=grace).numbers == ()  # maybe still in flight
    clock.now += timedelta(minutes=1)
    gap = store.gaps("Subscription/s1", now=clock.now, grace=grace)
    # 3 is missing below received events; 6 and 7 were counted by the server (the heartbeat's
    # events-since-subscription-start).
    assert gap.numbers == (3, 6, 7)
    assert gap.since == NOW  # when event 2, the last before the gap, arrived
    store.mark_recovered("Subscription/s1", gap.numbers, clock.now)
    state = store.subscription("Subscription/s1")
    assert state is not None and state.contiguous_through == 7
    assert store.gaps("Subscription/s1", now=clock.now + timedelta(hours=1), grace=grace).numbers == ()
    _event(double, receiver, (3,))  # a late delivery of a recovered event is a repeat
    assert len(outbox(store)) == 4


def test_events_before_we_first_heard_of_a_subscription_are_not_gaps(engine: Engine) -> None:
    double = FhirDouble()
    for n in range(1, 42):
        double.add_event("s2", f"Observation/o{n}")
    receiver = intake(engine)
    _event(double, receiver, (41,), "s2")
    assert (
        receiver.store.gaps("Subscription/s2", now=NOW + timedelta(days=1), grace=timedelta(0)).numbers == ()
    )
    state = receiver.store.subscription("Subscription/s2")
    assert state is not None and (state.contiguous_through, state.highest_seen, state.events) == (41, 41, 1)


def test_old_delivery_keys_are_pruned_but_not_those_a_gap_still_needs(engine: Engine) -> None:
    double = FhirDouble()
    receiver = intake(engine)
    receiver.receive(orjson.dumps(double.notification("s3", kind="handshake")), content_type=FHIR_JSON)
    for n in range(1, 5):
        double.add_event("s3", f"Observation/o{n}")
    _event(double, receiver, (1,), "s3")
    _event(double, receiver, (3,), "s3")
    receiver.store.gaps("Subscription/s3", now=NOW, grace=timedelta(seconds=30))  # moves the watermark to 1
    assert receiver.store.prune_claims(NOW + timedelta(days=30)) == 1  # event 1 (below the gap)
    _event(double, receiver, (3,), "s3")
    assert receiver.store.gaps(
        "Subscription/s3", now=NOW + timedelta(days=30), grace=timedelta(0)
    ).numbers == (2,)


def test_a_resource_sent_about_no_patient_asks_for_no_work(engine: Engine) -> None:
    device = {"resourceType": "Device", "id": "d1", "meta": {"versionId": "1"}}
    receipt = intake(engine).receive(orjson.dumps(device), content_type=FHIR_JSON, path_type="Device")
    assert (receipt.kind, receipt.accepted) == ("resource", 0)
