"""A real Celery worker (a thread, `celery.contrib.testing.worker.start_worker`) on the machine's real
Redis, fed by the real HTTP service: notification → broker → worker → rules → DetectedIssue.

Each test has its own queue, so that nothing else on the shared Redis is consumed or disturbed.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

from service.adapters.outbox import CeleryQueue, make_producer
from service.notify import TASK_EVALUATE_PATIENT
from service.ports import WorkItem
from service.settings import Settings
from tests.builders import T
from tests.fhir_double import FhirDouble
from tests.service.api.ehr import serving
from worker.celery_app import make_celery
from worker.context import WorkerContext

REDIS_URL = "redis://127.0.0.1:6379/0"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_settings(worker_settings: Settings) -> Iterator[Settings]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"!!! REDIS NOT TESTED: {REDIS_URL} unreachable ({exc}) !!!")
    queue = f"osteoalert-test-{uuid.uuid4().hex[:10]}"
    yield worker_settings.model_copy(update={"redis_url": REDIS_URL, "celery_queue": queue})
    client.delete(queue, f"{queue}\x06\x163", f"{queue}\x06\x166", f"{queue}\x06\x169")
    client.close()


@pytest.fixture
def worker(redis_settings: Settings) -> Iterator[Celery]:
    context = WorkerContext(redis_settings, clock=lambda: T)
    app = make_celery(redis_settings, context=context)
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, queues=[redis_settings.celery_queue],
        loglevel="WARNING", shutdown_timeout=30,
    ):  # fmt: skip
        yield app
    context.close()


async def until(predicate: object, timeout: float = 30.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not finish in time")
        await asyncio.sleep(0.05)


def event(double: FhirDouble, focus: str) -> bytes:
    number = double.add_event("s1", focus)
    return orjson.dumps(double.notification("s1", numbers=(number,), content="id-only"))


@pytest.mark.usefixtures("worker")
async def test_a_notification_is_evaluated_by_a_real_worker_and_written_back_once(
    redis_settings: Settings, ehr: tuple[FhirDouble, str], tmp_path: Path
) -> None:
    double, _ = ehr
    body = event(double, "Observation/v01-obs1")
    async with serving(redis_settings, clock=lambda: T) as (_, client):
        receipts = [
            (await client.post("/fhir/notify", content=body, headers=FHIR_JSON)).json() for _ in range(3)
        ]
        other = await client.post(
            "/fhir/notify", content=event(double, "Observation/v04-obs1"), headers=FHIR_JSON
        )
    assert [r["accepted"] for r in receipts] == [1, 0, 0]
    assert other.json()["accepted"] == 1
    await until(lambda: len(double.of_type("DetectedIssue")) == 2)
    await asyncio.sleep(0.5)  # nothing else arrives later
    issues = sorted(i["patient"]["reference"] for i in double.of_type("DetectedIssue"))
    assert issues == ["Patient/v01", "Patient/v04"]
    assert [w.status for w in double.writes] == [201, 201]


@pytest.mark.usefixtures("worker")
async def test_a_server_answering_503_first_is_retried_through_the_broker(
    redis_settings: Settings, ehr: tuple[FhirDouble, str]
) -> None:
    double, _ = ehr
    double.fail_next(2, status=503, retry_after="1")
    started = time.monotonic()
    async with serving(redis_settings, clock=lambda: T) as (_, client):
        await client.post("/fhir/notify", content=event(double, "Observation/v04-obs1"), headers=FHIR_JSON)
    await until(lambda: len(double.of_type("DetectedIssue")) == 1)
    assert time.monotonic() - started >= 2.0  # two countdowns of at least Retry-After
    assert [(m, p) for m, p in double.requests[:2]] == [("GET", "/Observation/v04-obs1")] * 2


def test_the_service_producer_publishes_from_many_threads_each_message_once(redis_settings: Settings) -> None:
    """The HTTP service publishes from its intake threads on one producer (one Redis client per
    channel, the queue declared by the first message only): every message lands once, ids only."""
    producer = make_producer(redis_settings)
    queue = CeleryQueue(producer, queue=redis_settings.celery_queue)
    foci = [f"Observation/o{i}" for i in range(60)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda f: queue.enqueue([WorkItem(TASK_EVALUATE_PATIENT, {"focus": f})]), foci))
    finally:
        producer.close()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        messages = [orjson.loads(m) for m in client.lrange(redis_settings.celery_queue, 0, -1)]
    finally:
        client.close()
    assert {m["headers"]["task"] for m in messages} == {TASK_EVALUATE_PATIENT}
    bodies = [orjson.loads(base64.b64decode(m["body"])) for m in messages]
    assert sorted(kwargs["focus"] for _, kwargs, _ in bodies) == sorted(foci)
    assert all(args == [] and set(kwargs) == {"focus"} for args, kwargs, _ in bodies)
