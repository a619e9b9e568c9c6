"""An EHR that delivers the same event again (its retry after a lost answer, a replay) gets it
evaluated once: the service drops the repeats before the broker, so one write-back per finding."""

from __future__ import annotations

import uuid

import orjson
import pytest

from tests.e2e.checks import assert_written_exactly_once, await_write_backs, posts_for
from tests.e2e.ehr import Ehr, backport_notification, new_subscription_id
from tests.e2e.stack import Service

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("worker")]


def test_the_same_event_delivered_three_times_is_written_back_once(ehr: Ehr, service: Service) -> None:
    patient = ehr.add_patient("V11", f"thrice-{uuid.uuid4().hex[:6]}")
    body = backport_notification(
        "id_only_notification_bundle_example.json",
        subscription=ehr.url(f"Subscription/{new_subscription_id('thrice')}"),
        number=1,
        focus=ehr.url(patient.observations[0]),
    )
    answers = [service.notify(body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [(a.json()["accepted"], a.json()["repeats"]) for a in answers] == [(1, 0), (0, 1), (0, 1)]
    writes = await_write_backs(ehr, [patient])
    assert_written_exactly_once(ehr, writes, patient)
    assert posts_for(writes, patient) == len(patient.expected), "a repeat reached the worker"


def test_the_same_resource_version_posted_twice_is_written_back_once(ehr: Ehr, service: Service) -> None:
    patient = ehr.add_patient("V01", f"twice-{uuid.uuid4().hex[:6]}")
    body = orjson.dumps(ehr.read(patient.observations[0]))
    answers = [service.notify(body) for _ in range(2)]
    assert [a.json()["accepted"] for a in answers] == [1, 0]
    writes = await_write_backs(ehr, [patient])
    assert_written_exactly_once(ehr, writes, patient)
    assert posts_for(writes, patient) == len(patient.expected)
