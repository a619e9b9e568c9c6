"""What every e2e scenario checks at the EHR: each expected DetectedIssue created exactly once."""

from __future__ import annotations

import time
from collections.abc import Sequence

from tests.e2e.ehr import Ehr, LoadedPatient, WriteRecord, created_by_identifier, created_codes
from tests.e2e.processes import wait_until

SETTLE_SECONDS = 1.0  # after the last expected write: time for a duplicate to show itself


def await_write_backs(
    ehr: Ehr, patients: Sequence[LoadedPatient], *, timeout: float = 30.0, settle: float = SETTLE_SECONDS
) -> list[WriteRecord]:
    """Until every patient's expected DetectedIssues were created, then `settle` seconds more."""
    for patient in patients:
        assert patient.expected, f"{patient.vignette} fires nothing in the background: a useless scenario"

    def done() -> bool:
        writes, _ = ehr.writes()
        return all(set(created_codes(writes, p)) >= p.expected for p in patients)

    wait_until(done, timeout=timeout, what=f"write-backs for {[p.id for p in patients]}", interval=0.1)
    time.sleep(settle)
    return ehr.writes()[0]


def assert_written_exactly_once(ehr: Ehr, writes: list[WriteRecord], patient: LoadedPatient) -> None:
    """Each expected rule created once (by identifier), nothing else; the EHR holds one of each."""
    assert created_codes(writes, patient) == sorted(patient.expected)
    created = created_by_identifier(writes, patient)
    assert set(created.values()) == {1}, f"DetectedIssues created more than once: {created}"
    stored = ehr.http.get("/DetectedIssue", params={"patient": patient.id}).json().get("entry") or []
    identifiers = sorted(e["resource"]["identifier"][0]["value"] for e in stored)
    assert identifiers == sorted(created), "the EHR holds other DetectedIssues than those created"


def posts_for(writes: list[WriteRecord], patient: LoadedPatient) -> int:
    """DetectedIssue POSTs about `patient`, whatever the answer (201 created, 200 already there)."""
    return sum(1 for w in writes if w.patient == patient.reference and w.method == "POST")
