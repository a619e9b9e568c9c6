"""Redis stopped while notifications arrive: the endpoint answers 503 (so the EHR retries), never
2xx-and-drop; once Redis is back, everything that had been accepted is processed, exactly once.

The broker here is a redis-server of the test's own on a spare port (the machine's shared Redis is
never stopped), with an fsynced append-only file, as a broker must run in production: a Redis that
comes back empty would lose what it had acknowledged, whatever the service does. It is stopped
hard (SIGKILL) while both pool processes are mid-task and two more tasks wait in the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.checks import assert_written_exactly_once, await_write_backs
from tests.e2e.ehr import Ehr, LoadedPatient, backport_notification, new_subscription_id
from tests.e2e.processes import PrivateRedis, Proc, wait_until
from tests.e2e.stack import Service, StackConfig, start_service, start_worker

pytestmark = pytest.mark.e2e

VISIBILITY_SECONDS = 5
HOLD_SECONDS = 2.0


@dataclass
class OwnBroker:
    redis: PrivateRedis
    service: Service
    worker: Proc


@pytest.fixture
def own_broker(stack_config: StackConfig, e2e_logs: Path, tmp_path: Path) -> Iterator[OwnBroker]:
    broker = PrivateRedis(tmp_path / "redis", e2e_logs)
    broker.start()
    config = stack_config.with_changes(
        redis_url=broker.url, queue=f"osteoalert-e2e-{uuid.uuid4().hex[:10]}",
        visibility_timeout=VISIBILITY_SECONDS,
    )  # fmt: skip
    procs: list[Proc] = []
    try:
        service_proc, url = start_service(config, e2e_logs, name="service-own-redis")
        procs.append(service_proc)
        procs.append(start_worker(config, e2e_logs, name="worker-own-redis"))
        client = Service(url)
        yield OwnBroker(broker, client, procs[1])
        client.close()
    finally:
        for proc in reversed(procs):
            proc.stop()
        broker.stop()


def test_notifications_arriving_while_redis_is_down_are_refused_with_503_and_none_accepted_is_lost(
    ehr: Ehr, own_broker: OwnBroker
) -> None:
    service = own_broker.service
    subscription = ehr.url(f"Subscription/{new_subscription_id('outage')}")
    tag = uuid.uuid4().hex[:6]
    before = [ehr.add_patient("V01", f"outage-{tag}-a{i}") for i in range(4)]
    during = [ehr.add_patient("V11", f"outage-{tag}-b{i}") for i in range(3)]

    def event(number: int, patient: LoadedPatient) -> bytes:
        return backport_notification(
            "id_only_notification_bundle_example.json", subscription=subscription, number=number,
            focus=ehr.url(patient.observations[0]),
        )  # fmt: skip

    held = [f"/Patient/{p.id}" for p in before[:2]]  # both pool processes busy; the rest queued
    for match in held:
        ehr.delay(match, seconds=HOLD_SECONDS, count=1)
    accepted = [service.notify(event(n, p)) for n, p in enumerate(before, start=1)]
    assert [a.status_code for a in accepted] == [200] * 4
    wait_until(lambda: all(ehr.held(m) == 1 for m in held), timeout=20, what="both tasks in flight")

    own_broker.redis.stop()
    bodies = [event(n, p) for n, p in enumerate(during, start=len(before) + 1)]
    refused = [service.notify(body) for body in bodies]
    assert [r.status_code for r in refused] == [503] * len(bodies), [r.text for r in refused]
    assert all(r.headers.get("Retry-After") for r in refused)
    assert all(r.json()["resourceType"] == "OperationOutcome" for r in refused)

    own_broker.redis.start()
    retried = [service.notify_until_accepted(body) for body in bodies]  # the EHR's retries
    assert [(r.status_code, r.json()["accepted"]) for r, _ in retried] == [(200, 1)] * len(bodies)

    writes = await_write_backs(ehr, before + during, timeout=60, settle=2.0)
    for patient in before + during:
        assert_written_exactly_once(ehr, writes, patient)
    assert own_broker.worker.alive()
