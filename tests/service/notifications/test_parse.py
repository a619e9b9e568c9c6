"""Reading notifications: every Subscriptions Backport IG example, the R4B shape, plain R4 rest-hook,
malformed input, and the shared-secret check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from service.adapters.notifications import (
    NotificationError,
    UnsupportedMediaTypeError,
    parse_notification,
    parse_status_result,
    split_reference,
    token_matches,
)
from tests.service.notifications.conftest import backport

FHIR_JSON = "application/fhir+json"
ENCOUNTER = "Encounter/86009987-eabe-42bf-8c02-b112b18cb616"


@pytest.mark.parametrize(
    ("name", "kind", "content", "events"),
    [
        ("handshake_bundle_example.json", "handshake", None, ()),
        ("heartbeat_bundle_example.json", "heartbeat", None, ()),
        ("empty_notification_bundle_example.json", "event-notification", "empty", ((1, None, None),)),
        (
            "id_only_notification_bundle_example.json",
            "event-notification",
            "id-only",
            ((1, ENCOUNTER, None),),
        ),
        (
            "full_resource_notification_bundle_example.json",
            "event-notification",
            "full-resource",
            ((1, ENCOUNTER, "1599eb66-431a-447c-a3de-6897fe9ae9a1"),),
        ),
    ],
)
def test_every_backport_example_is_read_as_its_status_says(
    shared_fixtures: Path, name: str, kind: str, content: str | None, events: tuple[Any, ...]
) -> None:
    n = parse_notification(backport(shared_fixtures, name), content_type=FHIR_JSON)
    assert (n.kind, n.subscription, n.content) == (kind, "Subscription/123", content)
    assert tuple((e.number, e.focus, e.patient) for e in n.events) == events
    assert n.notes == ()
    assert n.evaluates == (kind == "event-notification")


def test_handshake_and_heartbeat_carry_the_servers_event_count(shared_fixtures: Path) -> None:
    handshake = parse_notification(
        backport(shared_fixtures, "handshake_bundle_example.json"), content_type=None
    )
    heartbeat = parse_notification(
        backport(shared_fixtures, "heartbeat_bundle_example.json"), content_type=None
    )
    assert (handshake.status, handshake.events_since_start) == ("requested", 0)
    assert (heartbeat.status, heartbeat.events_since_start) == ("active", 2)


def test_the_non_conformant_empty_example_is_accepted_with_a_note(shared_fixtures: Path) -> None:
    """Its history entry lacks request/response (bdl-3/bdl-4): nothing else is wrong, so reading it
    as its SubscriptionStatus says loses nothing, while a 400 would make the EHR retry forever."""
    n = parse_notification(
        backport(shared_fixtures, "empty_notification_bundle_non_conformant_example.json"),
        content_type=FHIR_JSON,
    )
    assert (n.kind, n.subscription, n.content) == ("event-notification", "Subscription/admission", "empty")
    assert [e.number for e in n.events] == [1]
    assert len(n.notes) == 1 and "request/response" in n.notes[0]


def test_the_status_result_of_the_examples_is_read(shared_fixtures: Path) -> None:
    status = parse_status_result(backport(shared_fixtures, "subscription_status_example.json"))
    assert (status.type, status.events_since_start, status.events) == (
        "event-notification",
        2,
        ((2, "https://example.org/fhir/Encounter/86009987-eabe-42bf-8c02-b112b18cb616"),),
    )


def _r4b(shared_fixtures: Path, name: str) -> bytes:
    """The same notification with the R4B SubscriptionStatus resource as its first entry."""
    bundle = orjson.loads(backport(shared_fixtures, name))
    params = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
    event = params.get("notification-event")
    status: dict[str, Any] = {
        "resourceType": "SubscriptionStatus",
        "status": params["status"]["valueCode"],
        "type": params["type"]["valueCode"],
        "eventsSinceSubscriptionStart": params["events-since-subscription-start"]["valueString"],
        "subscription": params["subscription"]["valueReference"],
        "topic": params["topic"]["valueCanonical"],
    }
    if event is not None:
        parts = {p["name"]: p for p in event["part"]}
        item: dict[str, Any] = {"eventNumber": parts["event-number"]["valueString"]}
        if "focus" in parts:
            item["focus"] = parts["focus"]["valueReference"]
        status["notificationEvent"] = [item]
    bundle["entry"][0]["resource"] = status
    return orjson.dumps(bundle)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("handshake_bundle_example.json", None),
        ("empty_notification_bundle_example.json", "empty"),
        ("id_only_notification_bundle_example.json", "id-only"),
        ("full_resource_notification_bundle_example.json", "full-resource"),
    ],
)
def test_an_r4b_subscription_status_reads_like_the_r4_parameters(
    shared_fixtures: Path, name: str, content: str | None
) -> None:
    r4 = parse_notification(backport(shared_fixtures, name), content_type=FHIR_JSON)
    r4b = parse_notification(_r4b(shared_fixtures, name), content_type=FHIR_JSON)
    assert r4b == r4
    assert r4b.content == content


def test_an_empty_post_is_an_r4_ping() -> None:
    assert parse_notification(b"", content_type=None).kind == "ping"
    assert parse_notification(b"  \n", content_type=FHIR_JSON).kind == "ping"


@pytest.mark.parametrize("content_type", [FHIR_JSON, "application/json", "application/json; charset=utf-8"])
def test_an_r4_rest_hook_resource_names_its_patient_and_version(content_type: str) -> None:
    observation = {
        "resourceType": "Observation", "id": "ca1", "meta": {"versionId": "3"}, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "17861-6"}]},
        "subject": {"reference": "Patient/v01"},
    }  # fmt: skip
    n = parse_notification(
        orjson.dumps(observation), content_type=content_type, path_type="Observation", path_id="ca1"
    )
    assert n.kind == "resource"
    assert [(e.focus, e.focus_version, e.patient) for e in n.events] == [("Observation/ca1", "3", "v01")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"resourceType": "Bundle", "type": "searchset", "entry": []}', "type history"),
        (b'{"resourceType": "Bundle", "type": "history"}', "needs entries"),
        (
            b'{"resourceType": "Bundle", "type": "history", "entry": [{"resource": '
            b'{"resourceType": "Patient", "id": "p1"}}]}',
            "SubscriptionStatus",
        ),
        (
            b'{"resourceType": "Observation", "status": "final", "code": {}, '
            b'"effectiveDateTime": "yesterday"}',
            "effectiveDateTime",
        ),
        (b'{"resourceType": "Observation", "code": {}}', "status"),
        (b'{"resourceType": "NotAType"}', "not a FHIR R4 resource type"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(body: bytes, message: str) -> None:
    with pytest.raises(NotificationError, match=message):
        parse_notification(body, content_type=FHIR_JSON)


def _with_status_param(shared_fixtures: Path, name: str, value: Any) -> bytes:
    bundle = orjson.loads(backport(shared_fixtures, "id_only_notification_bundle_example.json"))
    for p in bundle["entry"][0]["resource"]["parameter"]:
        if p["name"] == name:
            p.clear()
            p.update({"name": name, **value})
    return orjson.dumps(bundle)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("type", {"valueCode": "gossip"}, "unknown notification type"),
        ("subscription", {"valueReference": {"reference": "urn:uuid:x"}}, "names no Subscription"),
        ("events-since-subscription-start", {"valueString": "many"}, "expected an integer"),
        ("events-since-subscription-start", {"valueString": "-2"}, "non-negative"),
    ],
)
def test_a_subscription_status_that_cannot_be_trusted_is_refused(
    shared_fixtures: Path, name: str, value: dict[str, Any], message: str
) -> None:
    with pytest.raises(NotificationError, match=message):
        parse_notification(_with_status_param(shared_fixtures, name, value), content_type=FHIR_JSON)


def test_a_resource_that_contradicts_the_url_is_refused() -> None:
    body = b'{"resourceType": "Patient", "id": "p1"}'
    with pytest.raises(NotificationError, match="URL says Observation"):
        parse_notification(body, content_type=FHIR_JSON, path_type="Observation")
    with pytest.raises(NotificationError, match="URL says Patient/p2"):
        parse_notification(body, content_type=FHIR_JSON, path_type="Patient", path_id="p2")


@pytest.mark.parametrize("content_type", ["application/xml", "text/plain", "application/fhir+xml"])
def test_other_media_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        parse_notification(b"<Bundle/>", content_type=content_type)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Observation/o1", ("Observation", "o1", None)),
        ("https://ehr.example.org/fhir/Observation/o1/_history/4", ("Observation", "o1", "4")),
        ("urn:uuid:0d8f", None),
        ("#contained", None),
        ("just-an-id", None),
    ],
)
def test_references_are_split_into_type_id_and_version(
    reference: str, expected: tuple[str, str, str | None] | None
) -> None:
    assert split_reference(reference) == expected


@pytest.mark.parametrize(
    ("header", "presented", "accepted"),
    [
        ("Authorization", "Bearer s3cret", True),
        ("Authorization", "s3cret", True),
        ("Authorization", "Bearer wrong", False),
        ("Authorization", None, False),
        ("X-Osteoalert-Token", "s3cret", True),
        ("X-Osteoalert-Token", "Bearer s3cret", False),
        ("X-Osteoalert-Token", "s3cret-and-more", False),
    ],
)
def test_the_shared_secret_is_checked_in_constant_time(
    header: str, presented: str | None, accepted: bool
) -> None:
    assert token_matches(presented, "s3cret", header=header) is accepted


def _with_extra_param(shared_fixtures: Path, element: Any) -> bytes:
    bundle = orjson.loads(backport(shared_fixtures, "id_only_notification_bundle_example.json"))
    bundle["entry"][0]["resource"]["parameter"].append(element)
    return orjson.dumps(bundle)


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"name": "note", "valueString": "a", "valueCode": "b"}, r"parameter\.6.*got multiple"),
        ({"name": "note", "valueInteger": "ten"}, r"parameter\.6\.valueInteger"),
        ({"valueString": "no name"}, r"parameter\.6\.name"),
        (None, r"parameter\.6.*None is not allowed"),
    ],
)
def test_every_subscription_status_element_is_validated_each_time_it_is_invalid(
    shared_fixtures: Path, element: Any, message: str
) -> None:
    """Valid SubscriptionStatus elements are remembered (most repeat in every notification of a
    Subscription); an invalid one is refused with where it is, on every delivery, even next to
    elements seen before."""
    valid = _with_extra_param(shared_fixtures, {"name": "note", "valueString": "a"})
    assert parse_notification(valid, content_type=FHIR_JSON).kind == "event-notification"
    for _ in range(2):
        with pytest.raises(NotificationError, match=message):
            parse_notification(_with_extra_param(shared_fixtures, element), content_type=FHIR_JSON)
    assert parse_notification(valid, content_type=FHIR_JSON).kind == "event-notification"
