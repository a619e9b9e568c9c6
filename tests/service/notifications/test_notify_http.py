"""POST /fhir/notify through HTTP: the app of `create_app`, the FHIR test double on a real socket, the
embedded outbox dispatcher, and the real Redis broker (or a port where nothing listens)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from fastapi import FastAPI

from service.background import BackgroundRuntime
from service.settings import Settings
from tests.builders import T
from tests.fhir_double import FhirDouble, free_port, serve_in_thread
from tests.service.api.ehr import operation_outcome_of, serving
from tests.service.notifications.conftest import backport, make_settings, vignette

FHIR_JSON = {"Content-Type": "application/fhir+json"}
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def ehr() -> Iterator[tuple[FhirDouble, str]]:
    double = FhirDouble(page_size=5)
    double.load(vignette("V01"), prefix="v01-")
    double.load(vignette("V04"), prefix="v04-")
    with serve_in_thread(double) as base_url:
        yield double, base_url


def runtime(app: FastAPI) -> BackgroundRuntime:
    value = app.state.notify
    assert isinstance(value, BackgroundRuntime)
    return value


async def settle(app: FastAPI, timeout: float = 20.0) -> None:
    """Wait until the embedded dispatcher has run everything accepted."""
    outbox = runtime(app).outbox
    assert outbox is not None
    async with asyncio.timeout(timeout):
        while await asyncio.to_thread(outbox.size):
            await asyncio.sleep(0.02)


def settings_for(tmp_path: Path, base_url: str, **changes: Any) -> Settings:
    return make_settings(tmp_path, fhir_base_url=base_url, **changes)


def event(double: FhirDouble, focus: str, content: str = "id-only", subscription: str = "s1") -> bytes:
    number = double.add_event(subscription, focus)
    return orjson.dumps(double.notification(subscription, numbers=(number,), content=content))


async def test_each_kind_of_notification_ends_as_expected(
    ehr: tuple[FhirDouble, str], tmp_path: Path
) -> None:
    double, base_url = ehr
    async with serving(settings_for(tmp_path, base_url), clock=lambda: T) as (app, client):
        handshake = orjson.dumps(double.notification("s1", kind="handshake"))
        assert (await client.post("/fhir/notify", content=handshake, headers=FHIR_JSON)).json() == {
            "kind": "handshake", "accepted": 0, "repeats": 0, "subscription": "Subscription/s1",
        }  # fmt: skip
        id_only = await client.post(
            "/fhir/notify", content=event(double, "Observation/v01-obs1"), headers=FHIR_JSON
        )
        full = await client.post(
            "/fhir/notify", content=event(double, "Observation/v04-obs1", "full-resource"), headers=FHIR_JSON
        )
        heartbeat = orjson.dumps(double.notification("s1", kind="heartbeat"))
        await client.post("/fhir/notify", content=heartbeat, headers={"Content-Type": "application/json"})
        assert [id_only.json()["content"], full.json()["content"]] == ["id-only", "full-resource"]
        await settle(app)
        states = (await client.get("/fhir/notify/subscriptions")).json()
    issues = {
        i["patient"]["reference"]: i["code"]["coding"][0]["code"] for i in double.of_type("DetectedIssue")
    }
    assert issues == {"Patient/v01": "phpt-suspected", "Patient/v04": "hypercalcemia-pth-missing"}
    (state,) = states["subscriptions"]
    assert (state["handshakes"], state["heartbeats"], state["events"], state["highestSeen"]) == (1, 1, 2, 2)
    assert states["outbox"] == 0


async def test_an_empty_event_is_recovered_through_events_operation(
    ehr: tuple[FhirDouble, str], tmp_path: Path
) -> None:
    double, base_url = ehr
    async with serving(settings_for(tmp_path, base_url), clock=lambda: T) as (app, client):
        body = event(double, "Observation/v01-obs3", "empty")
        assert (await client.post("/fhir/notify", content=body, headers=FHIR_JSON)).json()[
            "content"
        ] == "empty"
        await settle(app)
    assert (
        "GET",
        "/Subscription/s1/$events?eventsSinceNumber=1&eventsUntilNumber=1&content=id-only",
    ) in double.requests
    assert [i["patient"]["reference"] for i in double.of_type("DetectedIssue")] == ["Patient/v01"]


async def test_the_same_event_delivered_three_times_is_written_back_once(
    ehr: tuple[FhirDouble, str], tmp_path: Path
) -> None:
    double, base_url = ehr
    body = event(double, "Observation/v01-obs1")
    async with serving(settings_for(tmp_path, base_url), clock=lambda: T) as (app, client):
        receipts = [
            (await client.post("/fhir/notify", content=body, headers=FHIR_JSON)).json() for _ in range(3)
        ]
        await settle(app)
    assert [(r["accepted"], r["repeats"]) for r in receipts] == [(1, 0), (0, 1), (0, 1)]
    assert len(double.of_type("DetectedIssue")) == 1
    assert [w.status for w in double.writes] == [201]


async def test_a_server_answering_503_at_first_is_retried_until_the_work_is_done(
    ehr: tuple[FhirDouble, str], tmp_path: Path
) -> None:
    double, base_url = ehr
    double.fail_next(3, status=503, retry_after="0")
    async with serving(settings_for(tmp_path, base_url), clock=lambda: T) as (app, client):
        await client.post("/fhir/notify", content=event(double, "Observation/v01-obs1"), headers=FHIR_JSON)
        await settle(app)
        failures = (await client.get("/fhir/notify/failures")).json()
    assert len(double.of_type("DetectedIssue")) == 1
    assert failures["count"] == 0


async def test_a_permanent_failure_is_recorded_and_visible(
    ehr: tuple[FhirDouble, str], tmp_path: Path, shared_fixtures: Path
) -> None:
    _, base_url = ehr
    body = backport(shared_fixtures, "full_resource_notification_bundle_example.json")  # a patient we lack
    async with serving(settings_for(tmp_path, base_url), clock=lambda: T) as (app, client):
        assert (await client.post("/fhir/notify", content=body, headers=FHIR_JSON)).status_code == 200
        await settle(app)
        failures = (await client.get("/fhir/notify/failures")).json()
    assert failures["count"] == 1
    (failure,) = failures["failures"]
    assert failure["task"] == "osteoalert.evaluate_patient"
    assert failure["subject"] == "Patient/1599eb66-431a-447c-a3de-6897fe9ae9a1"
    assert failure["reason"] == "FHIR server answered 404"
    assert failure["attempts"] == 1


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("Authorization", None, 401),
        ("Authorization", "Bearer wrong", 401),
        ("Authorization", "Bearer s3cret", 200),
        ("X-Notify-Token", "s3cret", 200),
        ("X-Notify-Token", "nope", 401),
    ],
)
async def test_the_shared_secret_guards_the_endpoint(
    tmp_path: Path, header: str, value: str | None, status: int
) -> None:
    settings = make_settings(tmp_path, notify_token="s3cret", notify_token_header=header)
    async with serving(settings) as (_, client):
        response = await client.post("/fhir/notify", content=b"", headers={header: value} if value else {})
        listing = await client.get("/fhir/notify/failures", headers={header: value} if value else {})
    assert (response.status_code, listing.status_code) == (status, status)
    if status == 401:
        assert operation_outcome_of(response) == "authentication required"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "words"),
    [
        (b"{oops", "application/fhir+json", 400, "not JSON"),
        (
            b'{"resourceType": "Bundle", "type": "batch", "entry": []}',
            "application/fhir+json",
            400,
            "history",
        ),
        (b"<Bundle/>", "application/fhir+xml", 415, "unsupported media type"),
        (b'{"resourceType": "Patient", "id": "' + b"x" * 4_000 + b'"}', "application/json", 413, "larger"),
    ],
)
async def test_what_cannot_be_read_is_refused_with_an_operation_outcome(
    tmp_path: Path, content: bytes, content_type: str, status: int, words: str
) -> None:
    async with serving(make_settings(tmp_path, notify_max_body_bytes=2048)) as (_, client):
        response = await client.post("/fhir/notify", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert words in operation_outcome_of(response)


async def test_a_plain_r4_resource_put_evaluates_its_patient(
    ehr: tuple[FhirDouble, str], tmp_path: Path
) -> None:
    double, base_url = ehr
    observation = double.get("Observation/v04-obs1")
    assert observation is not None
    async with serving(settings_for(tmp_path, base_url), clock=lambda: T) as (app, client):
        response = await client.put(
            "/fhir/notify/Observation/v04-obs1", content=orjson.dumps(observation), headers=FHIR_JSON
        )
        assert response.json() == {
            "kind": "resource",
            "accepted": 1,
            "repeats": 0,
            "content": "full-resource",
        }
        await settle(app)
    assert [i["patient"]["reference"] for i in double.of_type("DetectedIssue")] == ["Patient/v04"]


async def test_when_the_broker_is_down_the_ehr_is_told_to_retry(
    tmp_path: Path, shared_fixtures: Path
) -> None:
    settings = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    body = backport(shared_fixtures, "id_only_notification_bundle_example.json")
    async with serving(settings) as (_, client):
        responses = [await client.post("/fhir/notify", content=body, headers=FHIR_JSON) for _ in range(2)]
        handshake = await client.post(
            "/fhir/notify",
            content=backport(shared_fixtures, "handshake_bundle_example.json"),
            headers=FHIR_JSON,
        )
    for response in responses:  # twice: the first refusal left no claim behind
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "retry later" in operation_outcome_of(response)
    assert handshake.status_code == 200  # nothing to enqueue: recorded and acknowledged


def _redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"!!! REDIS NOT TESTED: {REDIS_URL} unreachable ({exc}) !!!")
    return client


async def test_with_redis_the_work_is_on_the_broker_before_the_answer_and_carries_ids_only(
    tmp_path: Path, shared_fixtures: Path
) -> None:
    client_redis = _redis()
    queue = f"osteoalert-test-{uuid.uuid4().hex[:8]}"
    settings = make_settings(tmp_path, redis_url=REDIS_URL, celery_queue=queue)
    body = backport(shared_fixtures, "full_resource_notification_bundle_example.json")
    try:
        async with serving(settings) as (_, client):
            first = await client.post("/fhir/notify", content=body, headers=FHIR_JSON)
            assert client_redis.llen(queue) == 1  # published before the 200 was sent
            again = await client.post("/fhir/notify", content=body, headers=FHIR_JSON)
        assert (first.json()["accepted"], again.json()["repeats"]) == (1, 1)
        assert client_redis.llen(queue) == 1
        message: dict[str, Any] = orjson.loads(client_redis.lindex(queue, 0) or b"{}")
        assert message["headers"]["task"] == "osteoalert.evaluate_patient"
        args, kwargs, _ = orjson.loads(base64.b64decode(message["body"]))
        assert (args, kwargs) == ([], {"patient": "1599eb66-431a-447c-a3de-6897fe9ae9a1"})
        assert b"Encounter" not in base64.b64decode(message["body"])  # the resource itself never travels
    finally:
        client_redis.delete(queue)
        client_redis.close()


async def test_an_httpx_client_of_the_ehr_sees_json_answers(
    ehr: tuple[FhirDouble, str], tmp_path: Path
) -> None:
    _, base_url = ehr
    async with serving(settings_for(tmp_path, base_url)) as (_, client):
        response = await client.post("/fhir/notify", content=b"")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["kind"] == "ping"
    assert isinstance(response, httpx.Response)


@pytest.fixture
def private_redis() -> Iterator[tuple[int, Callable[[], None], Callable[[], None]]]:
    """A redis-server of our own on a spare port (the machine's shared one is never stopped)."""
    if shutil.which("redis-server") is None:
        pytest.skip("!!! REDIS OUTAGE NOT TESTED: no redis-server binary !!!")
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def stop() -> None:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        processes.clear()

    yield port, start, stop
    stop()


async def test_while_redis_is_down_notifications_get_503_and_are_accepted_again_once_it_is_back(
    tmp_path: Path, shared_fixtures: Path, private_redis: tuple[int, Callable[[], None], Callable[[], None]]
) -> None:
    port, start, stop = private_redis
    start()
    settings = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", celery_queue="q")
    body = backport(shared_fixtures, "id_only_notification_bundle_example.json")
    async with serving(settings) as (_, client):
        stop()
        down = await client.post("/fhir/notify", content=body, headers=FHIR_JSON)
        start()
        back = await client.post("/fhir/notify", content=body, headers=FHIR_JSON)
    assert (down.status_code, back.status_code) == (503, 200)
    assert back.json()["accepted"] == 1  # the refused delivery left no claim: the retry is new work
    assert redis.Redis(port=port).llen("q") == 1


async def test_shutdown_gives_up_on_a_background_task_that_will_not_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:  # swallows cancellation until released
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    async with serving(make_settings(tmp_path)) as (app, _):
        rt = runtime(app)
        task = asyncio.create_task(stubborn(), name="stubborn")
        await asyncio.sleep(0)  # running, inside its wait
        rt.tasks.append(task)
        started = time.monotonic()
        await rt.aclose(grace_seconds=0.2)
        waited = time.monotonic() - started
        rt.tasks.remove(task)
    release.set()
    await task
    assert waited < 5  # a shutdown never hangs on its background tasks
    assert "background task stubborn did not stop" in caplog.text
