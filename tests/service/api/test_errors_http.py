"""Every error is a JSON OperationOutcome with a clear message: 400, 404, 405, 413, 503 (load shed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.service.api.ehr import (
    FHIR_BASE,
    KEYS,
    FhirServer,
    body,
    hook_request,
    operation_outcome_of,
    searchset,
    serving,
    settings,
)

PV = "/cds-services/osteoalert-patient-view"
SELECT = "/cds-services/osteoalert-order-select"
SIGN = "/cds-services/osteoalert-order-sign"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}


def empty_prefetch() -> dict[str, Any]:
    prefetch: dict[str, Any] = {key: searchset([]) for key in KEYS}
    prefetch["patient"] = PATIENT
    return prefetch


def valid(hook: str = "patient-view") -> dict[str, Any]:
    return hook_request(
        hook, "p1", prefetch=empty_prefetch(), selections=[] if hook == "order-select" else None
    )


def without(request: dict[str, Any], *path: str) -> dict[str, Any]:
    target = request
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return request


def changed(request: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return request


AUTH = {"access_token": "t", "token_type": "Bearer", "scope": "patient/*.read", "subject": "cds"}

BAD_REQUESTS: dict[str, tuple[str, bytes, str]] = {
    "malformed JSON": (PV, b'{"hook": "patient-view",', "the request body is not JSON"),
    "not an object": (PV, b"[1, 2]", "the request body must be a JSON object"),
    "wrong hook": (
        PV,
        body(changed(valid(), "order-sign", "hook")),
        "hook 'order-sign' does not match this service",
    ),
    "no hook": (PV, body(without(valid(), "hook")), "hook is required"),
    "no hookInstance": (PV, body(without(valid(), "hookInstance")), "hookInstance is required"),
    "no context": (PV, body(without(valid(), "context")), "context is required"),
    "context not an object": (
        PV,
        body(changed(valid(), [], "context")),
        "context: expected an object, got array",
    ),
    "no patientId": (
        PV,
        body(without(valid(), "context", "patientId")),
        "context.patientId is required for hook patient-view",
    ),
    "no userId": (
        PV,
        body(without(valid(), "context", "userId")),
        "context.userId is required for hook patient-view",
    ),
    "patientId not a string": (
        PV,
        body(changed(valid(), 42, "context", "patientId")),
        "context.patientId: expected a string, got int",
    ),
    "patientId not a FHIR id": (
        PV,
        body(changed(valid(), "../Patient/x", "context", "patientId")),
        "context.patientId is not a FHIR id",
    ),
    "order-select without selections": (
        SELECT,
        body(without(valid("order-select"), "context", "selections")),
        "context.selections is required for hook order-select",
    ),
    "order-select without draftOrders": (
        SELECT,
        body(without(valid("order-select"), "context", "draftOrders")),
        "context.draftOrders is required for hook order-select",
    ),
    "selections not references": (
        SELECT,
        body(changed(valid("order-select"), ["abc"], "context", "selections")),
        "context.selections[0] is not a reference Type/id",
    ),
    "order-sign without draftOrders": (
        SIGN,
        body(without(valid("order-sign"), "context", "draftOrders")),
        "context.draftOrders is required for hook order-sign",
    ),
    "draftOrders not a Bundle": (
        SIGN,
        body(changed(valid("order-sign"), PATIENT, "context", "draftOrders")),
        "context.draftOrders must be a FHIR Bundle",
    ),
    "fhirAuthorization without fhirServer": (
        PV,
        body(changed(valid(), AUTH, "fhirAuthorization")),
        "fhirAuthorization is given without fhirServer",
    ),
    "fhirAuthorization not Bearer": (
        PV,
        body(
            changed(
                changed(valid(), AUTH | {"token_type": "MAC"}, "fhirAuthorization"), FHIR_BASE, "fhirServer"
            )
        ),
        "fhirAuthorization.token_type must be 'Bearer'",
    ),
    "fhirAuthorization without access_token": (
        PV,
        body(
            changed(
                changed(valid(), {k: v for k, v in AUTH.items() if k != "access_token"}, "fhirAuthorization"),
                FHIR_BASE,
                "fhirServer",
            )
        ),
        "fhirAuthorization.access_token is required",
    ),
    "fhirServer not a URL": (
        PV,
        body(changed(valid(), "ehr.example.org", "fhirServer")),
        "fhirServer must be an absolute",
    ),
    "two Patients in the prefetch": (
        PV,
        body(changed(valid(), searchset([PATIENT, PATIENT | {"id": "p2"}]), "prefetch", "patient")),
        "the FHIR data of the request: more than one Patient",
    ),
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings(tmp_path, cds_max_body_bytes=64 * 1024)) as (_, http):
        yield http


async def test_the_valid_baseline_requests_are_accepted(client: httpx.AsyncClient) -> None:
    for path, hook in ((PV, "patient-view"), (SELECT, "order-select"), (SIGN, "order-sign")):
        response = await client.post(path, content=body(valid(hook)))
        assert response.status_code == httpx.codes.OK, response.text
        assert response.json() == {"cards": []}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
async def test_a_bad_request_gets_400_with_an_operation_outcome_saying_what_is_wrong(
    client: httpx.AsyncClient, case: str
) -> None:
    path, content, message = BAD_REQUESTS[case]
    response = await client.post(path, content=content)
    assert response.status_code == httpx.codes.BAD_REQUEST
    assert message in operation_outcome_of(response)


async def test_an_unknown_service_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/cds-services/osteoalert-everything", content=body(valid()))
    assert response.status_code == httpx.codes.NOT_FOUND
    assert "osteoalert-everything" in operation_outcome_of(response)
    feedback = await client.post("/cds-services/osteoalert-everything/feedback", content=b"{}")
    assert feedback.status_code == httpx.codes.NOT_FOUND


async def test_an_unknown_path_and_a_wrong_method_are_operation_outcomes_too(
    client: httpx.AsyncClient,
) -> None:
    assert operation_outcome_of(await client.get("/fhir/metadata")) == "no such endpoint"
    wrong = await client.get(PV)
    assert wrong.status_code == httpx.codes.METHOD_NOT_ALLOWED
    assert operation_outcome_of(wrong) == "method not allowed on this endpoint"


async def test_a_body_over_the_limit_is_413_declared_or_streamed(client: httpx.AsyncClient) -> None:
    big = body(valid() | {"padding": "x" * 70_000})
    declared = await client.post(PV, content=big)
    assert declared.status_code == httpx.codes.REQUEST_ENTITY_TOO_LARGE
    assert "larger than 65536 bytes" in operation_outcome_of(declared)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await client.post(PV, content=chunks())
    assert streamed.status_code == httpx.codes.REQUEST_ENTITY_TOO_LARGE


async def test_when_every_slot_is_busy_a_call_is_shed_at_once_with_503_and_retry_after(
    tmp_path: Path,
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(_: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(404)

    request = hook_request("patient-view", "p1", fhir_server=FHIR_BASE)
    async with serving(settings(tmp_path, cds_max_concurrency=1)) as (_, client):
        with respx.mock as ehr:
            ehr.get(url__startswith=FHIR_BASE).mock(side_effect=slow)
            first = asyncio.create_task(client.post(PV, content=body(request)))
            await asyncio.wait_for(entered.wait(), timeout=5)  # the first call holds the only slot
            shed = await asyncio.wait_for(client.post(PV, content=body(request)), timeout=1)
            health = await client.get("/healthz")
            release.set()
            assert (await first).status_code == httpx.codes.PRECONDITION_FAILED  # the Patient was not found
        after = await client.post(PV, content=body(valid()))
    assert shed.status_code == httpx.codes.SERVICE_UNAVAILABLE
    assert shed.headers["retry-after"] == "1"
    assert "at capacity" in operation_outcome_of(shed)
    assert health.status_code == httpx.codes.OK  # probes are never shed
    assert after.status_code == httpx.codes.OK  # the slot was given back


async def test_cors_allows_only_the_configured_origins(tmp_path: Path) -> None:
    allowed = "https://ehr.example.org"
    async with serving(settings(tmp_path, cors_origins=[allowed])) as (_, client):
        ok = await client.get("/cds-services", headers={"Origin": allowed})
        other = await client.get("/cds-services", headers={"Origin": "https://evil.example.org"})
        preflight = await client.options(
            PV,
            headers={"Origin": allowed, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )  # fmt: skip
    assert ok.headers["access-control-allow-origin"] == allowed
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == httpx.codes.OK


async def test_without_cors_origins_no_cors_header_is_sent(client: httpx.AsyncClient) -> None:
    response = await client.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
    assert "access-control-allow-origin" not in response.headers


async def test_a_patient_the_fhir_server_does_not_know_is_412(tmp_path: Path) -> None:
    with respx.mock as ehr:
        FhirServer("p1", {"Patient": []}).mount(ehr)
        async with serving(settings(tmp_path)) as (_, client):
            response = await client.post(
                PV, content=body(hook_request("patient-view", "p1", fhir_server=FHIR_BASE))
            )
    assert response.status_code == httpx.codes.PRECONDITION_FAILED
    assert "patient" in operation_outcome_of(response)
