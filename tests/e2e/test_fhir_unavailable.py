"""A FHIR server that answers 503 (with Retry-After) to its first 3 requests: the worker retries
with backoff, never sooner than Retry-After, and the event is written back once, not failed."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e.checks import assert_written_exactly_once, await_write_backs
from tests.e2e.ehr import Ehr, backport_notification, new_subscription_id
from tests.e2e.stack import Service

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("worker")]

RETRY_AFTER_SECONDS = 1


def test_a_fhir_server_answering_503_three_times_is_retried_and_the_event_written_back_once(
    ehr: Ehr, service: Service
) -> None:
    patient = ehr.add_patient("V11", f"unavailable-{uuid.uuid4().hex[:6]}")
    body = backport_notification(
        "id_only_notification_bundle_example.json",
        subscription=ehr.url(f"Subscription/{new_subscription_id('unavailable')}"),
        number=1,
        focus=ehr.url(patient.observations[0]),
    )
    ehr.fail_next(3, status=503, retry_after=str(RETRY_AFTER_SECONDS))
    started = time.monotonic()
    assert service.notify(body).json()["accepted"] == 1
    await_write_backs(ehr, [patient], settle=0.0)
    elapsed = time.monotonic() - started
    assert ehr.failures_left() == 0, "the 503s were not all served"
    # The first request of the task (the focus read) fails three times in a row: three waits.
    assert elapsed >= 3 * RETRY_AFTER_SECONDS
    time.sleep(1.0)
    assert_written_exactly_once(ehr, ehr.writes()[0], patient)
    failures = service.failures()["failures"]
    assert isinstance(failures, list)
    mine = [f for f in failures if patient.id in str(f["subject"])]
    assert not mine, f"a transient failure was recorded as permanent: {mine}"
