"""Every kind of notification an EHR sends, through the real service, broker and worker, to the
DetectedIssues written back at the EHR: exactly once each.

The Backport IG notifications are the IG's own R4 examples (../shared/fixtures/subscriptions-backport,
read-only), pointed at a Subscription of the test's own and at a vignette patient on the FHIR double.
"""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest

from tests.e2e.checks import assert_written_exactly_once, await_write_backs
from tests.e2e.ehr import Ehr, LoadedPatient, backport_notification, new_subscription_id
from tests.e2e.stack import Service

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("worker")]

HANDSHAKE = "handshake_bundle_example.json"
HEARTBEAT = "heartbeat_bundle_example.json"
EMPTY = "empty_notification_bundle_example.json"
ID_ONLY = "id_only_notification_bundle_example.json"
FULL_RESOURCE = "full_resource_notification_bundle_example.json"


def test_handshake_and_heartbeat_are_acknowledged_and_recorded_but_never_evaluated(
    ehr: Ehr, service: Service
) -> None:
    sid = new_subscription_id("handshake")
    subscription = ehr.url(f"Subscription/{sid}")
    answers = [
        service.notify(backport_notification(f, subscription=subscription, events_since_start=0))
        for f in (HANDSHAKE, HEARTBEAT)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert [(a.json()["kind"], a.json()["accepted"]) for a in answers] == [("handshake", 0), ("heartbeat", 0)]
    state = service.subscription_state(f"Subscription/{sid}")
    assert state is not None
    assert (state["handshakes"], state["heartbeats"]) == (1, 1)
    time.sleep(1.0)  # recovery of this subscription ($status, $events, a search) would have asked by now
    asked = [path for _, path in ehr.requests() if sid in path]
    assert not asked, f"a handshake or heartbeat made the worker ask the EHR: {asked}"


def _r4_subscription(sid: str, patient: LoadedPatient, service: Service) -> dict[str, object]:
    return {
        "resourceType": "Subscription", "id": sid, "status": "active", "reason": "e2e R4 rest-hook",
        "criteria": f"Observation?patient={patient.id}",
        "channel": {"type": "rest-hook", "endpoint": f"{service.base_url}/fhir/notify"},
    }  # fmt: skip


def deliver(kind: str, patient: LoadedPatient, ehr: Ehr, service: Service) -> httpx.Response:
    """What the EHR sends for a new result of `patient`, in each protocol and payload."""
    sid = new_subscription_id(kind)
    subscription = ehr.url(f"Subscription/{sid}")
    focus = patient.observations[0]
    match kind:
        case "id-only":
            body = backport_notification(ID_ONLY, subscription=subscription, number=1, focus=ehr.url(focus))
            return service.notify(body)
        case "full-resource":
            body = backport_notification(
                FULL_RESOURCE, subscription=subscription, number=1, focus=ehr.url(focus),
                resource=ehr.read(focus),
            )  # fmt: skip
            return service.notify(body)
        case "empty":  # the worker asks the EHR's $events what event 1 was
            number = ehr.add_event(sid, focus)
            return service.notify(backport_notification(EMPTY, subscription=subscription, number=number))
        case "r4-ping":  # an empty POST: the worker searches by the Subscription's criteria
            ehr.put(_r4_subscription(sid, patient, service))
            return service.notify(b"", content_type=None, subscription=f"Subscription/{sid}")
        case "r4-resource-post":
            return service.notify(orjson.dumps(ehr.read(focus)), content_type="application/json")
        case "r4-resource-put":
            path = f"/fhir/notify/{focus}"
            return service.notify(orjson.dumps(ehr.read(focus)), path=path, method="PUT")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "vignette"),
    [
        ("id-only", "V01"),
        ("full-resource", "V11"),
        ("empty", "V01"),
        ("r4-ping", "V11"),
        ("r4-resource-post", "V01"),
        ("r4-resource-put", "V11"),
    ],
)
def test_each_kind_of_event_notification_writes_the_patients_detected_issues_exactly_once(
    kind: str, vignette: str, ehr: Ehr, service: Service
) -> None:
    patient = ehr.add_patient(vignette, f"kind-{kind}-{uuid.uuid4().hex[:6]}")
    answer = deliver(kind, patient, ehr, service)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    writes = await_write_backs(ehr, [patient])
    assert_written_exactly_once(ehr, writes, patient)


def test_the_vignettes_give_the_detected_issues_rules_md_expects() -> None:
    """The scenarios above rest on these expectations (RULES.md 9, background scope of 1.5)."""
    v01 = LoadedPatient("x", "V01", ())
    v11 = LoadedPatient("y", "V11", ())
    assert v01.expected == {"phpt-suspected"}
    assert v11.expected == {"secondary-hpt", "vitd-deficiency"}
