"""Prefetch is a hint: what is missing is fetched under one deadline, or the call is refused (412).

A FHIR server that hangs is cut off within `cds_fetch_timeout_seconds`; missing data is never
evaluated as "absent" (that would produce false cards). Order hooks evaluate the draft orders of
`context.draftOrders` (order-select: only `context.selections`), never stale drafts from a search.
"""

from __future__ import annotations

import asyncio
import time
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
    by_type,
    full_prefetch,
    hook_request,
    is_draft,
    operation_outcome_of,
    serving,
    settings,
)
from tests.vignettes import BY_ID

DEADLINE = 0.3
PV = "/cds-services/osteoalert-patient-view"


async def hang(_: httpx.Request) -> httpx.Response:
    await asyncio.sleep(30)
    return httpx.Response(200, json={})


def v01_request(**changes: Any) -> dict[str, Any]:
    return hook_request("patient-view", "v01", **changes)


async def post(tmp_path: Path, path: str, request: dict[str, Any], **setting: Any) -> httpx.Response:
    async with serving(settings(tmp_path, **setting)) as (_, client):
        return await client.post(path, content=body(request))


async def test_a_hanging_fhir_server_is_cut_off_at_the_deadline_with_412_naming_every_missing_key(
    tmp_path: Path,
) -> None:
    with respx.mock as ehr:
        ehr.get(url__startswith=FHIR_BASE).mock(side_effect=hang)
        started = time.monotonic()
        response = await post(
            tmp_path, PV, v01_request(fhir_server=FHIR_BASE), cds_fetch_timeout_seconds=DEADLINE
        )
        elapsed = time.monotonic() - started
    assert response.status_code == httpx.codes.PRECONDITION_FAILED
    assert elapsed < DEADLINE + 1.0  # app start-up included; the 30 s hang was cut off
    message = operation_outcome_of(response)
    assert all(key in message for key in KEYS)
    assert f"did not answer within {DEADLINE:g} s" in message


async def test_a_hanging_fhir_server_is_not_called_when_everything_was_prefetched(tmp_path: Path) -> None:
    v = BY_ID["V01"]
    with respx.mock(assert_all_called=False) as ehr:
        route = ehr.get(url__startswith=FHIR_BASE).mock(side_effect=hang)
        request = v01_request(prefetch=full_prefetch(v.bundle()), fhir_server=FHIR_BASE)
        response = await post(tmp_path, PV, request, cds_fetch_timeout_seconds=DEADLINE)
    assert response.status_code == httpx.codes.OK, response.text
    assert {c["source"]["topic"]["code"] for c in response.json()["cards"]} == {"phpt-suspected"}
    assert not route.called


@pytest.mark.parametrize("missing", ["observations", "patient", "diagnosticReports"])
async def test_one_missing_key_on_a_hanging_server_gives_412_naming_that_key_only(
    missing: str, tmp_path: Path
) -> None:
    prefetch = full_prefetch(BY_ID["V01"].bundle())
    del prefetch[missing]
    with respx.mock as ehr:
        ehr.get(url__startswith=FHIR_BASE).mock(side_effect=hang)
        response = await post(
            tmp_path,
            PV,
            v01_request(prefetch=prefetch, fhir_server=FHIR_BASE),
            cds_fetch_timeout_seconds=DEADLINE,
        )
    assert response.status_code == httpx.codes.PRECONDITION_FAILED
    assert operation_outcome_of(response).startswith(f"prefetch {missing} not provided")


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (
            httpx.Response(500, json={"resourceType": "OperationOutcome", "issue": []}),
            "FHIR server answered 500",
        ),
        (httpx.Response(401), "FHIR server answered 401"),
        (httpx.ConnectError("refused"), "FHIR server unreachable: ConnectError"),
    ],
)
async def test_a_failing_fhir_server_gives_412_with_the_reason(
    answer: httpx.Response | Exception, why: str, tmp_path: Path
) -> None:
    prefetch = full_prefetch(BY_ID["V01"].bundle())
    prefetch["conditions"] = None
    with respx.mock as ehr:
        ehr.get(url__startswith=FHIR_BASE).mock(side_effect=[answer])
        response = await post(tmp_path, PV, v01_request(prefetch=prefetch, fhir_server=FHIR_BASE))
    assert response.status_code == httpx.codes.PRECONDITION_FAILED
    assert (
        operation_outcome_of(response)
        == f"prefetch conditions not provided and not fetched from fhirServer: {why}"
    )


async def test_missing_prefetch_without_fhir_server_is_412(tmp_path: Path) -> None:
    prefetch = full_prefetch(BY_ID["V01"].bundle())
    del prefetch["procedures"]
    response = await post(tmp_path, PV, v01_request(prefetch=prefetch))
    assert response.status_code == httpx.codes.PRECONDITION_FAILED
    assert operation_outcome_of(response) == (
        "prefetch procedures not provided and not fetched from fhirServer: the request has no fhirServer"
    )


async def test_an_operation_outcome_in_place_of_a_prefetch_key_is_fetched_with_the_bearer_token(
    tmp_path: Path,
) -> None:
    v = BY_ID["V01"]
    prefetch = full_prefetch(v.bundle())
    prefetch["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    server = FhirServer("v01", by_type(v.bundle()))
    with respx.mock as ehr:
        server.mount(ehr)
        response = await post(tmp_path, PV, v01_request(prefetch=prefetch, fhir_server=FHIR_BASE))
    assert response.status_code == httpx.codes.OK, response.text
    assert server.resource_types() == {"Observation"}
    assert {c["source"]["topic"]["code"] for c in response.json()["cards"]} == {"phpt-suspected"}


async def test_a_prefetched_patient_other_than_context_patient_id_is_400(tmp_path: Path) -> None:
    prefetch = full_prefetch(BY_ID["V01"].bundle())
    response = await post(tmp_path, PV, hook_request("patient-view", "someone-else", prefetch=prefetch))
    assert response.status_code == httpx.codes.BAD_REQUEST
    assert "is not context.patientId" in operation_outcome_of(response)


def order_request(
    vid: str, *, drafts_in_context: bool, selections: list[str] | None = None
) -> dict[str, Any]:
    v = BY_ID[vid]
    bundle = v.bundle()
    drafts = [r for rs in by_type(bundle).values() for r in rs if is_draft(r)]
    return hook_request(
        v.hook.value,
        vid.lower(),
        prefetch=full_prefetch(bundle),  # its MedicationRequest search holds the draft too
        draft_orders=drafts if drafts_in_context else [],
        selections=selections if selections is not None else v.selections,
    )


async def test_order_sign_evaluates_the_draft_orders_of_the_context_not_drafts_found_by_search(
    tmp_path: Path,
) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        signed = await client.post(
            "/cds-services/osteoalert-order-sign", content=body(order_request("V23", drafts_in_context=True))
        )
        stale = await client.post(
            "/cds-services/osteoalert-order-sign", content=body(order_request("V23", drafts_in_context=False))
        )
    assert [c["source"]["topic"]["code"] for c in signed.json()["cards"]] == [
        "antiresorptive-hypocalcemia-risk"
    ]
    assert stale.status_code == httpx.codes.OK
    assert stale.json() == {"cards": []}


async def test_order_select_evaluates_only_the_selected_draft_orders(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        selected = await client.post(
            "/cds-services/osteoalert-order-select",
            content=body(order_request("V22", drafts_in_context=True)),
        )
        unselected = await client.post(
            "/cds-services/osteoalert-order-select",
            content=body(
                order_request("V22", drafts_in_context=True, selections=["MedicationRequest/other"])
            ),
        )
    assert [c["source"]["topic"]["code"] for c in selected.json()["cards"]] == ["ai-adt-bone-assessment-due"]
    assert unselected.json() == {"cards": []}


async def test_a_card_that_cancels_a_draft_order_names_it(tmp_path: Path) -> None:
    async with serving(settings(tmp_path)) as (_, client):
        response = await client.post(
            "/cds-services/osteoalert-order-sign", content=body(order_request("V23", drafts_in_context=True))
        )
    actions = [a for s in response.json()["cards"][0].get("suggestions", []) for a in s["actions"]]
    deletes = [a for a in actions if a["type"] == "delete"]
    assert deletes, actions
    assert all(a["resourceId"] == "MedicationRequest/med6" for a in deletes)
    assert all("draft order for" in a["description"] for a in deletes)
