"""GET /metrics of the API: the named series exist, and they move when a hook is called, feedback is
posted, a notification is accepted (or refused) and the embedded dispatcher runs its work."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI

from service.settings import Settings
from tests.builders import T
from tests.fhir_double import FhirDouble, serve_in_thread
from tests.observability.prometheus import Samples, families, parse, value
from tests.service.api.ehr import full_prefetch, hook_request, serving
from tests.vignettes import VIGNETTES

PV = "osteoalert-patient-view"
NAMED_SERIES = {
    "osteoalert_hook_calls_total": "counter",
    "osteoalert_hook_duration_seconds": "histogram",
    "osteoalert_cards_total": "counter",
    "osteoalert_feedback_total": "counter",
    "osteoalert_notifications_total": "counter",
    "osteoalert_tasks_total": "counter",
    "osteoalert_task_retries_total": "counter",
    "osteoalert_task_failures_total": "counter",
    "osteoalert_task_duration_seconds": "histogram",
    "osteoalert_write_backs_total": "counter",
    "osteoalert_background_findings_total": "counter",
    "osteoalert_http_requests_total": "counter",
    "osteoalert_http_request_duration_seconds": "histogram",
}
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def settings(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {"database_url": f"sqlite:///{tmp_path / 'o.db'}"} | changes
    return Settings.model_validate(values)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == httpx.codes.OK
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


def v01_request() -> bytes:
    v01 = next(v for v in VIGNETTES if v.id == "V01")
    return orjson.dumps(hook_request("patient-view", "v01", prefetch=full_prefetch(v01.bundle())))


async def test_metrics_expose_every_named_series_with_its_type(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        response = await client.get("/metrics")
    declared = {
        line.split()[2]: line.split()[3] for line in response.text.splitlines() if line.startswith("# TYPE")
    }
    assert {name: declared.get(name) for name in NAMED_SERIES} == NAMED_SERIES
    assert not [name for name in declared if name.endswith("_created")]
    assert families(response.text) >= {name.removesuffix("_total") for name in NAMED_SERIES}


async def test_a_hook_call_moves_the_hook_counter_its_latency_and_the_cards_by_rule(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        before = await scrape(client)
        response = await client.post(f"/cds-services/{PV}", content=v01_request())
        after = await scrape(client)
    assert response.status_code == httpx.codes.OK
    cards = response.json()["cards"]
    assert cards
    assert value(before, "osteoalert_hook_calls_total", service=PV, status="200") == 0
    assert value(after, "osteoalert_hook_calls_total", service=PV, status="200") == 1
    assert value(after, "osteoalert_hook_duration_seconds_count", service=PV) == 1
    assert value(after, "osteoalert_hook_duration_seconds_bucket", service=PV, le="+Inf") == 1
    for card in cards:
        labels = {"service": PV, "rule_id": card["source"]["topic"]["code"], "indicator": card["indicator"]}
        assert value(after, "osteoalert_cards_total", **labels) >= 1
    total_cards = sum(v for (name, _), v in after.items() if name == "osteoalert_cards_total")
    assert total_cards == len(cards)
    route = "/cds-services/{service_id}"
    assert value(after, "osteoalert_http_requests_total", route=route, method="POST", status="200") == 1


async def test_hook_calls_to_unknown_services_are_folded_into_one_label(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        for name in ("nope-1", "nope-2"):
            assert (await client.post(f"/cds-services/{name}", content=b"{}")).status_code == 404
        after = await scrape(client)
    assert value(after, "osteoalert_hook_calls_total", service="other", status="404") == 2
    assert not [labels for (name, labels) in after if ("service", "nope-1") in labels]


async def test_feedback_moves_the_feedback_counter_by_rule_and_outcome(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        cards = (await client.post(f"/cds-services/{PV}", content=v01_request())).json()["cards"]
        feedback = {
            "feedback": [
                {
                    "card": cards[0]["uuid"],
                    "outcome": "overridden",
                    "outcomeTimestamp": T.isoformat(),
                },
            ]
        }
        answer = await client.post(f"/cds-services/{PV}/feedback", content=orjson.dumps(feedback))
        after = await scrape(client)
    assert answer.status_code == httpx.codes.OK, answer.text
    rule = cards[0]["source"]["topic"]["code"]
    assert value(after, "osteoalert_feedback_total", rule_id=rule, outcome="overridden") == 1
    assert value(after, "osteoalert_feedback_total", rule_id=rule, outcome="accepted") == 0


async def test_each_app_counts_on_its_own_registry(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    async with (
        serving(settings(tmp_path / "a")) as (_, first),
        serving(settings(tmp_path / "b")) as (_, second),
    ):
        await first.post(f"/cds-services/{PV}", content=v01_request())
        one, other = await scrape(first), await scrape(second)
    assert value(one, "osteoalert_hook_calls_total", service=PV, status="200") == 1
    assert value(other, "osteoalert_hook_calls_total", service=PV, status="200") == 0


@pytest.fixture
def ehr() -> Iterator[tuple[FhirDouble, str]]:
    double = FhirDouble(page_size=5)
    v01 = next(v for v in VIGNETTES if v.id == "V01")
    double.load(v01.bundle(), prefix="v01-")
    with serve_in_thread(double) as base_url:
        yield double, base_url


async def settle(app: FastAPI) -> None:
    outbox = app.state.notify.outbox
    async with asyncio.timeout(30):
        while await asyncio.to_thread(outbox.size):
            await asyncio.sleep(0.02)


async def test_notifications_move_by_kind_and_outcome_and_the_dispatcher_counts_its_work(
    tmp_path: Path, ehr: tuple[FhirDouble, str]
) -> None:
    double, base_url = ehr
    app_settings = settings(tmp_path, fhir_base_url=base_url, notify_token="t0ken-1")
    headers = FHIR_JSON | {"Authorization": "Bearer t0ken-1"}
    number = double.add_event("s1", "Observation/v01-obs1")
    event = orjson.dumps(double.notification("s1", numbers=(number,)))
    async with serving(app_settings, clock=lambda: T) as (app, client):
        handshake = orjson.dumps(double.notification("s1", kind="handshake"))
        assert (await client.post("/fhir/notify", content=handshake, headers=headers)).status_code == 200
        assert (await client.post("/fhir/notify", content=event, headers=headers)).json()["accepted"] == 1
        assert (await client.post("/fhir/notify", content=event, headers=headers)).json()["repeats"] == 1
        wrong = headers | {"Authorization": "Bearer nope"}
        assert (await client.post("/fhir/notify", content=event, headers=wrong)).status_code == 401
        assert (await client.post("/fhir/notify", content=b"{", headers=headers)).status_code == 400
        await settle(app)
        after = await scrape(client)
    assert value(after, "osteoalert_notifications_total", kind="handshake", outcome="recorded") == 1
    assert value(after, "osteoalert_notifications_total", kind="event-notification", outcome="accepted") == 1
    assert value(after, "osteoalert_notifications_total", kind="event-notification", outcome="repeat") == 1
    assert value(after, "osteoalert_notifications_total", kind="unread", outcome="unauthorized") == 1
    assert value(after, "osteoalert_notifications_total", kind="unread", outcome="invalid") == 1
    task = "osteoalert.evaluate_patient"
    assert value(after, "osteoalert_tasks_total", task=task, outcome="succeeded") == 1
    assert value(after, "osteoalert_task_duration_seconds_count", task=task) == 1
    written = len([w for w in double.writes if w.resource_type == "DetectedIssue" and w.status == 201])
    assert written >= 1
    assert value(after, "osteoalert_write_backs_total", outcome="created") == written
    assert value(after, "osteoalert_background_findings_total", rule_id="phpt-suspected") == 1


async def test_the_dispatcher_counts_retries_and_failures(
    tmp_path: Path, ehr: tuple[FhirDouble, str]
) -> None:
    double, base_url = ehr
    app_settings = settings(
        tmp_path, fhir_base_url=base_url, worker_max_retries=1, worker_retry_base_seconds=0.01,
        worker_retry_max_seconds=0.02,
    )  # fmt: skip
    double.fail_next(5, status=503, retry_after="0")  # more than the one retry allowed
    number = double.add_event("s1", "Observation/v01-obs1")
    event = orjson.dumps(double.notification("s1", numbers=(number,)))
    async with serving(app_settings, clock=lambda: T) as (app, client):
        assert (await client.post("/fhir/notify", content=event, headers=FHIR_JSON)).status_code == 200
        await settle(app)
        after = await scrape(client)
    task = "osteoalert.evaluate_patient"
    assert value(after, "osteoalert_task_retries_total", task=task) == 1
    assert value(after, "osteoalert_task_failures_total", task=task) == 1
    assert value(after, "osteoalert_tasks_total", task=task, outcome="retried") == 1
    assert value(after, "osteoalert_tasks_total", task=task, outcome="failed") == 1
