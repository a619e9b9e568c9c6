"""The background use case end to end in process: the FHIR test double serves a vignette patient,
`evaluate_patient` fetches, evaluates, stores and writes back; stored findings become cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.adapters.cds_cards import RULE_CODE_SYSTEM, card_uuid
from service.adapters.fhir_client import FhirClientError
from service.adapters.fhir_writeback import IDENTIFIER_SYSTEM
from service.adapters.store import SqlAlertStore
from service.evaluation import Background, evaluate_patient
from tests.builders import T
from tests.fhir_double import FhirDouble
from tests.service.api.ehr import body, hook_request, serving
from tests.service.notifications.conftest import make_settings, vignette


def detected_issues(double: FhirDouble) -> list[dict[str, Any]]:
    return double.of_type("DetectedIssue")


async def test_a_vignette_patient_gets_its_background_finding_written_back(
    background: Background, double: FhirDouble
) -> None:
    outcome = await evaluate_patient(background, patient="v01")
    assert (outcome.patient, outcome.findings, outcome.written) == ("Patient/v01", ("phpt-suspected",), 1)
    (issue,) = detected_issues(double)
    assert issue["code"]["coding"][0]["system"] == RULE_CODE_SYSTEM
    assert issue["code"]["coding"][0]["code"] == "phpt-suspected"
    assert (issue["status"], issue["severity"]) == ("final", "moderate")
    assert issue["patient"] == {"reference": "Patient/v01"}
    assert {"reference": "Observation/v01-obs1"} in issue["implicated"]
    assert issue["identifier"][0]["system"] == IDENTIFIER_SYSTEM
    (write,) = double.writes
    assert write.if_none_exist == f"identifier={IDENTIFIER_SYSTEM}|{issue['identifier'][0]['value']}"
    (stored,) = background.alerts.for_patient("Patient/v01")
    assert (stored.rule_id, stored.status) == ("phpt-suspected", "written")


async def test_only_the_background_rules_run(background: Background) -> None:
    """V04 at patient-view fires hypercalcemia-pth-missing; it is a background rule too (RULES.md 1.5)."""
    outcome = await evaluate_patient(background, patient="Patient/v04")
    assert outcome.findings == ("hypercalcemia-pth-missing",)


async def test_replays_and_redeliveries_write_back_once(
    background: Background, double: FhirDouble, sqlite_engine: Any
) -> None:
    for _ in range(3):
        await evaluate_patient(background, patient="v01")
    assert len(detected_issues(double)) == 1
    assert [w.status for w in double.writes] == [201]  # later runs see the alert already written
    # A store that lost its state (another deployment, a restored backup): the conditional create
    # finds the DetectedIssue by its identifier and nothing is duplicated.
    sqlite_engine.dispose()
    fresh = Background(
        background.engine, background.fhir, background.plan, SqlAlertStore(sqlite_engine), lambda: T
    )
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM alerts")
    outcome = await evaluate_patient(fresh, patient="v01")
    assert (outcome.written, outcome.already_there) == (0, 1)
    assert len(detected_issues(double)) == 1
    assert [w.status for w in double.writes] == [201, 200]


async def test_an_id_only_focus_is_read_to_find_its_patient(
    background: Background, double: FhirDouble
) -> None:
    outcome = await evaluate_patient(background, focus="http://ehr.example.org/fhir/Observation/v01-obs1")
    assert outcome.patient == "Patient/v01"
    assert ("GET", "/Observation/v01-obs1") in double.requests


async def test_a_server_answering_503_fails_transiently_and_nothing_is_written(
    background: Background, double: FhirDouble
) -> None:
    double.fail_next(1, status=503, retry_after="2")
    with pytest.raises(FhirClientError) as caught:
        await evaluate_patient(background, patient="v01")
    assert (caught.value.transient, caught.value.retry_after) == (True, 2.0)
    assert detected_issues(double) == []
    outcome = await evaluate_patient(background, patient="v01")  # what a retry does
    assert outcome.written == 1


async def test_an_unknown_patient_fails_permanently(background: Background) -> None:
    with pytest.raises(FhirClientError) as caught:
        await evaluate_patient(background, patient="nobody")
    assert (caught.value.status, caught.value.transient) == (404, False)


async def test_a_refused_write_back_is_recorded_on_the_alert(
    background: Background, double: FhirDouble
) -> None:
    double.fail_next(1, status=422, method="POST", path="/DetectedIssue")
    outcome = await evaluate_patient(background, patient="v01")
    assert (outcome.written, outcome.write_failures) == (0, 1)
    (failed,) = background.alerts.failed()
    assert (failed.rule_id, failed.status, failed.failure_reason) == (
        "phpt-suspected",
        "failed",
        "FHIR server answered 422",
    )


async def test_a_transient_write_back_failure_leaves_the_alert_new_for_the_retry(
    background: Background, double: FhirDouble
) -> None:
    double.fail_next(1, status=503, method="POST", path="/DetectedIssue")
    with pytest.raises(FhirClientError):
        await evaluate_patient(background, patient="v01")
    (stored,) = background.alerts.for_patient("Patient/v01")
    assert stored.status == "new"
    assert (await evaluate_patient(background, patient="v01")).written == 1


async def test_stored_findings_become_cards_at_the_next_patient_view(
    background: Background, sqlite_engine: Any, tmp_path: Path
) -> None:
    await evaluate_patient(background, patient="v01")
    (stored,) = background.alerts.for_patient("Patient/v01")
    # The same store as the CDS service's; the chart opens with only the Patient prefetched (the labs
    # that made the finding are not part of this call), and the stored finding is still shown.
    settings = make_settings(tmp_path, database_url=sqlite_engine.url.render_as_string())
    patient = vignette("V01")["entry"][0]["resource"]
    prefetch = {"patient": patient} | {
        key: {"resourceType": "Bundle", "type": "searchset", "entry": []}
        for key in ("observations", "conditions", "medications", "medicationStatements",
                    "medicationAdministrations", "procedures", "diagnosticReports")
    }  # fmt: skip
    async with serving(settings) as (_, client):
        response = await client.post(
            "/cds-services/osteoalert-patient-view",
            content=body(hook_request("patient-view", "v01", prefetch=prefetch)),
        )
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["phpt-suspected"]
    assert (
        cards[0]["uuid"] == stored.card_uuid == card_uuid("Patient/v01", "phpt-suspected", stored.index_key)
    )


async def test_a_focus_about_no_patient_is_nothing_to_evaluate(
    background: Background, double: FhirDouble
) -> None:
    double.put({"resourceType": "Device", "id": "d1"})
    outcome = await evaluate_patient(background, focus="Device/d1")
    assert (outcome.patient, outcome.findings, outcome.written) == ("", (), 0)
