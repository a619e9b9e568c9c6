"""Every CDS Hooks request example of ../shared/fixtures/cds-hooks/ sent to the service over HTTP.

Fragments (a `context` or `fhirAuthorization` alone) are wrapped into full requests: the test adds
only the envelope (hook, hookInstance, fhirServer and its authorization), never context fields. The
fhirServer is respx: the Patient, and empty searchsets. Valid requests whose data trigger no rule get
exactly `{"cards": []}`. The examples that are NOT valid requests for our hooks are listed in
`INVALID` with the 400 each gets and why (they are excerpts of the spec, not complete calls).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from tests.service.api.ehr import FHIR_BASE, FhirServer, body, operation_outcome_of, serving, settings
from tests.service.cds.card_shape import assert_valid_cds_response

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "cds-hooks"
pytestmark = pytest.mark.fixtures

SERVICE_OF = {
    "patient-view": "osteoalert-patient-view",
    "order-select": "osteoalert-order-select",
    "order-sign": "osteoalert-order-sign",
}
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "1288992",
    "gender": "male",
    "birthDate": "1925-12-23",
}
AUTHORIZATION: dict[str, Any] = {
    "access_token": "some-opaque-fhir-access-token",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "user/Patient.read user/Observation.read",
    "subject": "cds-service4",
}

# file → the hook it is an example of (files that name their hook keep it).
HOOK_OF = {
    "spec-2.0.1/request-patient-view.json": "patient-view",
    "spec-2.0.1/request-with-extension.json": "patient-view",
    "spec-2.0.1/request-fhirAuthorization.json": "patient-view",
    "spec-2.0.1/context-patient-view.json": "patient-view",
    "spec-2.0.1/context-order-sign-draftorders.json": "order-sign",
    "spec-2.0.1/context-medication-refill.json": "medication-refill",
    "spec-2.0.1/prefetch-data.json": "patient-view",
    "hook-library/patient-view-context-1.json": "patient-view",
    "hook-library/patient-view-context-2.json": "patient-view",
    "hook-library/order-select-request-r4.json": "order-select",
    "hook-library/order-sign-request-r4.json": "order-sign",
}

# file → (status, what the OperationOutcome says). Why each is not a valid call:
INVALID = {
    # The spec's extension example omits context.patientId, REQUIRED for patient-view.
    "spec-2.0.1/request-with-extension.json": (400, "context.patientId is required for hook patient-view"),
    # A context excerpt: only patientId (userId is REQUIRED for patient-view).
    "spec-2.0.1/context-patient-view.json": (400, "context.userId is required for hook patient-view"),
    # A context excerpt showing draftOrders: no userId, no patientId (both REQUIRED for order-sign).
    "spec-2.0.1/context-order-sign-draftorders.json": (400, "context.userId is required for hook order-sign"),
    # medication-refill is a hook we do not serve; sent to order-sign it is the wrong hook.
    "spec-2.0.1/context-medication-refill.json": (
        400,
        "hook 'medication-refill' does not match this service",
    ),
}


def example(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(reason=f"LOUD SKIP: fixture {path} not found")
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def wrapped(name: str) -> dict[str, Any]:
    """The example as a full request: the envelope added where the example is a fragment."""
    data = copy.deepcopy(example(name))
    hook = HOOK_OF[name]
    data.setdefault("hook", hook)
    data.setdefault("hookInstance", "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea")
    data.setdefault("context", {"userId": "Practitioner/example", "patientId": PATIENT["id"]})
    data.setdefault("fhirServer", FHIR_BASE)  # request-patient-view.json keeps its own (mocked too)
    data.setdefault("fhirAuthorization", AUTHORIZATION)
    return data


def service_for(name: str) -> str:
    return SERVICE_OF.get(HOOK_OF[name], "osteoalert-order-sign")


def test_every_request_example_of_the_fixtures_is_covered() -> None:
    names = {
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.rglob("*.json")
        if p.name.startswith(("request-", "context-", "prefetch-data")) or p.parent.name == "hook-library"
    }
    if not names:
        pytest.skip(reason=f"LOUD SKIP: no CDS Hooks fixtures under {FIXTURES}")
    assert names == set(HOOK_OF)


VALID = sorted(set(HOOK_OF) - set(INVALID))


@pytest.mark.parametrize("name", VALID)
async def test_a_valid_example_is_accepted_and_gets_no_cards_when_nothing_fires(
    name: str, tmp_path: Path
) -> None:
    request = wrapped(name)
    server_url = request["fhirServer"]
    server = FhirServer(
        PATIENT["id"], {"Patient": [PATIENT]}, base=server_url, token=AUTHORIZATION["access_token"]
    )
    with respx.mock(assert_all_called=False) as ehr:
        server.mount(ehr)
        async with serving(settings(tmp_path)) as (_, client):
            response = await client.post(f"/cds-services/{service_for(name)}", content=body(request))
    assert response.status_code == httpx.codes.OK, response.text
    assert response.json() == {"cards": []}
    assert_valid_cds_response(response.json())


@pytest.mark.parametrize("name", sorted(INVALID))
async def test_an_example_that_is_not_a_valid_call_for_its_hook_gets_a_clear_400(
    name: str, tmp_path: Path
) -> None:
    status, message = INVALID[name]
    with respx.mock(assert_all_called=False) as ehr:
        FhirServer(PATIENT["id"], {"Patient": [PATIENT]}, base=FHIR_BASE).mount(ehr)
        async with serving(settings(tmp_path)) as (_, client):
            response = await client.post(f"/cds-services/{service_for(name)}", content=body(wrapped(name)))
    assert response.status_code == status
    assert message in operation_outcome_of(response)


async def test_the_spec_prefetch_example_is_used_and_only_missing_keys_are_fetched(tmp_path: Path) -> None:
    """prefetch-data.json: a Patient without id (taken as context.patientId), keys we do not declare."""
    server = FhirServer(PATIENT["id"], {"Patient": [PATIENT]}, token=AUTHORIZATION["access_token"])
    with respx.mock(assert_all_called=False) as ehr:
        server.mount(ehr)
        async with serving(settings(tmp_path)) as (_, client):
            response = await client.post(
                "/cds-services/osteoalert-patient-view",
                content=body(wrapped("spec-2.0.1/prefetch-data.json")),
            )
    assert response.status_code == httpx.codes.OK, response.text
    assert "Patient" not in server.resource_types()  # the prefetched Patient was used
    assert "Observation" in server.resource_types()  # "hemoglobin-a1c" is not our observations key
