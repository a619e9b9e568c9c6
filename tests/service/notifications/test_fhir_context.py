"""Fetching one patient's context from the EHR's FHIR server (respx plays the server)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from service.adapters.fhir_client import FhirClient, FhirClientError
from service.adapters.fhir_context import ContextPlan, NoPatientError, fetch_patient_context, resolve_patient
from service.evaluation import Engine
from tests.builders import T

BASE = "https://ehr.example.org/fhir"
Json = dict[str, Any]


def searchset(resources: list[Json], next_url: str | None = None) -> Json:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    entries = [{"fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}


def calcium(oid: str, value: float) -> Json:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "17861-6"}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-01-10T08:00:00Z",
        "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                          "code": "mg/dL"},
    }  # fmt: skip


def mock_context(
    mock: respx.MockRouter, *, patient: Json | None = None, lab_status: int = 200
) -> dict[str, respx.Route]:
    def observations(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("page") == "2":
            return httpx.Response(200, json=searchset([calcium("ca2", 11.4)]))
        if "17861-6" in params.get("code", ""):  # the lab search (the DXA one has other codes)
            if lab_status != 200:
                return httpx.Response(lab_status, headers={"Retry-After": "7"})
            return httpx.Response(200, json=searchset([calcium("ca1", 11.2)], f"{BASE}/Observation?page=2"))
        return httpx.Response(200, json=searchset([]))

    routes = {
        "patient": mock.get(f"{BASE}/Patient/p1").respond(
            json=patient
            or {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-01-01"}
        ),
        "Observation": mock.get(f"{BASE}/Observation").mock(side_effect=observations),
    }
    for kind in ("DiagnosticReport", "Condition", "Procedure", "MedicationRequest", "MedicationStatement",
                 "MedicationAdministration"):  # fmt: skip
        routes[kind] = mock.get(f"{BASE}/{kind}").respond(json=searchset([]))
    return routes


async def test_the_context_is_every_search_of_the_plan_with_pages_followed(rule_engine: Engine) -> None:
    plan = ContextPlan.build(rule_engine.codesets)
    with respx.mock(assert_all_called=True) as mock:
        routes = mock_context(mock)
        async with httpx.AsyncClient() as http:
            resources = await fetch_patient_context(FhirClient(BASE, http), "p1", at=T, plan=plan)
    assert resources.patient.ref == "Patient/p1"
    assert sorted(o.id or "" for o in resources.observations) == ["ca1", "ca2"]
    searches = [call.request.url.params for call in routes["Observation"].calls]
    labs = next(p for p in searches if "17861-6" in p.get("code", ""))
    dxa = next(p for p in searches if "38267-1" in p.get("code", ""))
    assert len(searches) == 3  # labs (two pages) and DXA
    assert labs["patient"] == "p1"
    assert labs["date"] == "ge2023-01-16"  # 1095 days before T
    assert "http://loinc.org|2731-8" in labs["code"].split(",")  # PTH is among the lab codes
    assert "38267-1" not in labs["code"]  # DXA codes have their own, longer window
    assert dxa["date"] == "ge2021-01-16"  # 1825 days
    include = routes["MedicationRequest"].calls.last.request.url.params["_include"]
    assert include == "MedicationRequest:medication"


def test_the_look_back_windows_are_configurable(rule_engine: Engine) -> None:
    plan = ContextPlan.build(rule_engine.codesets, lab_days=30, dxa_days=60)
    queries = plan.queries("p1", T)
    assert queries["labs"].endswith("&date=ge2025-12-16")
    assert queries["dxa"].endswith("&date=ge2025-11-16")
    assert queries["patient"] == "Patient/p1"


@pytest.mark.parametrize(
    ("patient_status", "lab_status", "transient", "status"),
    [
        (404, 200, False, 404),
        (503, 200, True, 503),
        (404, 503, False, 404),  # a permanent failure wins: retrying would not fix it
        (200, 429, True, 429),
    ],
)
async def test_a_failed_search_fails_the_fetch_and_says_whether_to_retry(
    rule_engine: Engine, patient_status: int, lab_status: int, transient: bool, status: int
) -> None:
    plan = ContextPlan.build(rule_engine.codesets)
    with respx.mock() as mock:
        routes = mock_context(mock, lab_status=lab_status)
        if patient_status != 200:
            routes["patient"].respond(patient_status)
        async with httpx.AsyncClient() as http:
            with pytest.raises(FhirClientError) as caught:
                await fetch_patient_context(FhirClient(BASE, http), "p1", at=T, plan=plan)
    assert (caught.value.transient, caught.value.status) == (transient, status)
    if status == 429:
        assert caught.value.retry_after == 7.0


async def test_a_patient_id_that_is_not_a_fhir_id_is_refused_before_any_request(rule_engine: Engine) -> None:
    plan = ContextPlan.build(rule_engine.codesets)
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="not a FHIR id"):
            await fetch_patient_context(FhirClient(BASE, http), "p1&_id=x", at=T, plan=plan)


async def test_another_patient_returned_by_the_server_is_refused(rule_engine: Engine) -> None:
    plan = ContextPlan.build(rule_engine.codesets)
    with respx.mock() as mock:
        mock_context(mock, patient={"resourceType": "Patient", "id": "someone-else"})
        async with httpx.AsyncClient() as http:
            with pytest.raises(ValueError, match="someone-else"):
                await fetch_patient_context(FhirClient(BASE, http), "p1", at=T, plan=plan)


@pytest.mark.parametrize(
    ("resource", "patient"),
    [
        ({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p7"}}, "p7"),
        ({"resourceType": "Encounter", "id": "o1", "subject": {"reference": f"{BASE}/Patient/p8"}}, "p8"),
        ({"resourceType": "MedicationStatement", "id": "o1", "subject": {"reference": "Patient/p9"}}, "p9"),
    ],
)
async def test_the_focus_of_an_id_only_notification_is_read_for_its_patient(
    resource: Json, patient: str
) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{BASE}/{resource['resourceType']}/o1").respond(json=resource)
        async with httpx.AsyncClient() as http:
            found = await resolve_patient(
                FhirClient(BASE, http), f"https://other.example/{resource['resourceType']}/o1"
            )
    assert found == patient


async def test_a_patient_focus_needs_no_request() -> None:
    async with httpx.AsyncClient() as http:
        assert await resolve_patient(FhirClient(BASE, http), "Patient/p1") == "p1"


async def test_a_focus_about_no_patient_is_an_error_of_its_own() -> None:
    with respx.mock() as mock:
        mock.get(f"{BASE}/Device/d1").respond(json={"resourceType": "Device", "id": "d1"})
        async with httpx.AsyncClient() as http:
            with pytest.raises(NoPatientError):
                await resolve_patient(FhirClient(BASE, http), "Device/d1")
