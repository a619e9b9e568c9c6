"""A worker killed (SIGKILL) in the middle of a task loses nothing and duplicates nothing.

The FHIR double holds the patient's read for 30 s, so the kill lands while the task is fetching.
Tasks are acknowledged late, so the broker still holds the message:

* a pool process killed: the worker's main process rejects the task (`task_reject_on_worker_lost`)
  and it is run again at once by a fresh pool process;
* the whole worker killed: the message stays unacknowledged in Redis until its visibility timeout
  has passed; the next worker to start restores it. The timeout is 3 s here (an hour by default).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.checks import assert_written_exactly_once, await_write_backs
from tests.e2e.ehr import Ehr, LoadedPatient, backport_notification, new_subscription_id
from tests.e2e.processes import Proc, forget_queue, wait_until
from tests.e2e.stack import Service, StackConfig, start_service, start_worker

pytestmark = pytest.mark.e2e

VISIBILITY_SECONDS = 3
HOLD_SECONDS = 30.0


def send_held_event(ehr: Ehr, service: Service, label: str) -> LoadedPatient:
    """An id-only event for a new patient whose Patient read the EHR holds: in flight once it returns."""
    patient = ehr.add_patient("V01", f"{label}-{uuid.uuid4().hex[:6]}")
    held = f"/Patient/{patient.id}"
    ehr.delay(held, seconds=HOLD_SECONDS, count=1)
    body = backport_notification(
        "id_only_notification_bundle_example.json",
        subscription=ehr.url(f"Subscription/{new_subscription_id(label)}"),
        number=1,
        focus=ehr.url(patient.observations[0]),
    )
    assert service.notify(body).json()["accepted"] == 1
    wait_until(lambda: ehr.held(held) == 1, timeout=20, what="the task to reach the held read")
    return patient


@pytest.fixture(autouse=True)
def _release_held_requests(ehr: Ehr) -> Iterator[None]:
    yield
    ehr.release()


def test_a_pool_process_killed_mid_task_has_its_task_run_again_and_written_back_once(
    ehr: Ehr, service: Service, worker: Proc
) -> None:
    patient = send_held_event(ehr, service, "pool-killed")
    pool = worker.children()
    assert len(pool) == 2
    for pid in pool:
        os.kill(pid, signal.SIGKILL)
    writes = await_write_backs(ehr, [patient])
    assert_written_exactly_once(ehr, writes, patient)
    assert worker.alive()
    assert "WorkerLostError" in worker.log.read_text(errors="replace")


@pytest.fixture
def short_visibility(stack_config: StackConfig, e2e_logs: Path) -> Iterator[tuple[StackConfig, Service]]:
    """A service and queue of this test's own, the visibility timeout short."""
    config = stack_config.with_changes(
        queue=f"osteoalert-e2e-{uuid.uuid4().hex[:10]}", visibility_timeout=VISIBILITY_SECONDS
    )
    proc, url = start_service(config, e2e_logs, name="service-worker-killed")
    client = Service(url)
    yield config, client
    client.close()
    proc.stop()
    forget_queue(config.redis_url, config.queue)


def test_a_worker_killed_mid_task_leaves_the_task_to_the_next_worker_which_writes_back_once(
    ehr: Ehr, short_visibility: tuple[StackConfig, Service], e2e_logs: Path
) -> None:
    config, service = short_visibility
    first = start_worker(config, e2e_logs, name="worker-to-kill")
    second: Proc | None = None
    try:
        patient = send_held_event(ehr, service, "worker-killed")
        first.kill()
        killed_at = time.monotonic()
        assert not first.alive()
        # The unacknowledged message comes back once its visibility timeout has passed (Redis
        # counts from the delivery, before the kill), at the next worker's start-up sweep.
        time.sleep(max(0.0, VISIBILITY_SECONDS + 1 - (time.monotonic() - killed_at)))
        second = start_worker(config, e2e_logs, name="worker-next")
        writes = await_write_backs(ehr, [patient])
        assert_written_exactly_once(ehr, writes, patient)
    finally:
        first.stop()
        if second is not None:
            second.stop()
