"""DetectedIssue write-back: the resource, its stable identifier, the conditional create (respx)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx
from fhir.resources.R4B.detectedissue import DetectedIssue

from service.adapters.cds_cards import RULE_CODE_SYSTEM
from service.adapters.fhir_client import FhirClient, FhirClientError
from service.adapters.fhir_writeback import (
    IDENTIFIER_SYSTEM,
    build_detected_issue,
    detected_issue_identifier,
    write_detected_issue,
)
from service.ports import StoredAlert
from tests.builders import T

BASE = "https://ehr.example.org/fhir"


def alert(
    indicator: str = "warning", evidence: tuple[str, ...] = ("Observation/ca1", "Observation/pth1")
) -> StoredAlert:
    return StoredAlert(
        patient="Patient/v01", rule_id="phpt-suspected", indicator=indicator,
        summary="Primary hyperparathyroidism suspected: Ca 11.2 mg/dL with PTH 98 pg/mL.", detail="…",
        index_key="ca1|pth1", card_uuid="c0ffee", identifier="ident-1", evidence=evidence,
        payload={"references": [{"label": "PHPT Workshop 2022", "url": "https://doi.org/10.1002/jbmr.4677"}]},
        status="new", failure_reason=None, created_at=T, updated_at=T,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("indicator", "severity"), [("critical", "high"), ("warning", "moderate"), ("info", "low")]
)
def test_the_detected_issue_says_what_the_card_says(indicator: str, severity: str) -> None:
    resource = build_detected_issue(
        alert(indicator, ("DiagnosticReport/r1", "Observation/ca1", "urn:uuid:x"))
    )
    DetectedIssue.model_validate(resource)
    assert resource["status"] == "final"
    assert resource["severity"] == severity
    assert resource["code"]["coding"][0] | {} == {
        "system": RULE_CODE_SYSTEM,
        "code": "phpt-suspected",
        "display": resource["code"]["coding"][0]["display"],
    }
    assert resource["patient"] == {"reference": "Patient/v01"}
    assert resource["identifiedDateTime"] == "2026-01-15T12:00:00Z"
    assert resource["detail"].startswith("Primary hyperparathyroidism suspected")
    assert resource["reference"] == "https://doi.org/10.1002/jbmr.4677"
    assert resource["identifier"] == [{"system": IDENTIFIER_SYSTEM, "value": "ident-1"}]
    # Observations first; references that name no resource (urn:uuid) are left out.
    assert resource["implicated"] == [{"reference": "Observation/ca1"}, {"reference": "DiagnosticReport/r1"}]


def test_the_identifier_is_stable_for_patient_rule_and_evidence() -> None:
    one = detected_issue_identifier("Patient/v01", "phpt-suspected", ["Observation/b", "Observation/a"])
    assert one == detected_issue_identifier("v01", "phpt-suspected", ["Observation/a", "Observation/b"])
    assert one != detected_issue_identifier("v01", "phpt-suspected", ["Observation/a"])
    assert one != detected_issue_identifier("v02", "phpt-suspected", ["Observation/a", "Observation/b"])
    assert one != detected_issue_identifier("v01", "hypocalcemia", ["Observation/a", "Observation/b"])
    no_evidence = detected_issue_identifier("v01", "vitd-deficiency", [], index_key="k1")
    assert no_evidence != detected_issue_identifier("v01", "vitd-deficiency", [], index_key="k2")


@pytest.mark.parametrize(("status", "outcome"), [(201, "created"), (200, "exists"), (412, "exists")])
async def test_the_write_is_a_conditional_create_on_the_identifier(status: int, outcome: str) -> None:
    resource = build_detected_issue(alert())
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/DetectedIssue").respond(
            status, headers={"Location": f"{BASE}/DetectedIssue/d1"}
        )
        async with httpx.AsyncClient() as http:
            answer = await write_detected_issue(FhirClient(BASE, http, token="t"), resource)
    assert answer.outcome == outcome
    request = route.calls.last.request
    assert request.headers["If-None-Exist"] == f"identifier={IDENTIFIER_SYSTEM}|ident-1"
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert request.headers["Authorization"] == "Bearer t"
    sent: dict[str, Any] = orjson.loads(request.content)
    assert sent == resource


@pytest.mark.parametrize(
    ("status", "transient"), [(400, False), (403, False), (422, False), (429, True), (503, True)]
)
async def test_a_refused_write_says_whether_to_retry(status: int, transient: bool) -> None:
    with respx.mock() as mock:
        mock.post(f"{BASE}/DetectedIssue").respond(status, headers={"Retry-After": "3"})
        async with httpx.AsyncClient() as http:
            with pytest.raises(FhirClientError) as caught:
                await write_detected_issue(FhirClient(BASE, http), build_detected_issue(alert()))
    assert (caught.value.status, caught.value.transient, caught.value.retry_after) == (status, transient, 3.0)
