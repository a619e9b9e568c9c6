"""Conditions and Procedures (RULES.md 1.4, 2.3, 3.6, 10.1 #14) and the Patient (1.1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.service.adapters.fhir_json import (
    ICD10CM,
    SNOMED,
    SUBJECT,
    Json,
    T,
    concept,
    condition,
    iso,
    patient,
    reasons,
    snapshot,
)

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CPT = "http://www.ama-assn.org/go/cpt"


def _procedure(system: str, code: str, *, status: str = "completed", **more: object) -> Json:
    return {
        "resourceType": "Procedure",
        "id": "pr1",
        "status": status,
        "code": concept(system, code),
        "subject": SUBJECT,
    } | more


# ---- conditions ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("system", "code", "sets", "stage"),
    [
        (ICD10CM, "M8008XA", {"OSTEOPOROSIS", "FRAGILITY_FX", "VERTEBRAL_FX"}, None),
        (ICD10CM, "N18.32", {"CKD"}, "G3b"),
        (ICD10CM, "N184", {"CKD"}, "G4"),
        (ICD10CM, "N18.6", {"CKD", "DIALYSIS"}, None),
        (SNOMED, "700378005", {"CKD"}, "G3a"),
        (SNOMED, "69896004", {"RA"}, None),
        (ICD10CM, "K50.90", {"IBD", "MALABSORPTION"}, None),
    ],
)
def test_conditions_carry_their_sets_and_ckd_stage(
    system: str, code: str, sets: set[str], stage: str | None
) -> None:
    snap = snapshot(condition(system, code))
    assert [(set(c.sets), c.ckd_stage) for c in snap.conditions] == [(sets, stage)]


def test_the_icd10_code_is_kept_dotted() -> None:
    assert snapshot(condition(ICD10CM, "M8008XA")).conditions[0].codes == ("M80.08XA",)


@pytest.mark.parametrize("code", ["E24.4", "M06.4", "I10"])
def test_conditions_in_no_set_are_not_kept(code: str) -> None:
    snap = snapshot(condition(ICD10CM, code))
    assert snap.conditions == ()
    assert snap.ignored == ()


@pytest.mark.parametrize(
    ("clinical", "active"),
    [
        (None, True),
        ("active", True),
        ("recurrence", True),
        ("relapse", True),
        ("inactive", False),
        ("remission", False),
        ("resolved", False),
    ],
)
def test_active_is_active_recurrence_relapse_or_no_clinical_status(
    clinical: str | None, active: bool
) -> None:
    extra: Json = {} if clinical is None else {"clinicalStatus": concept(CLINICAL, clinical)}
    snap = snapshot(condition(ICD10CM, "E21.0", **extra))
    assert [c.active for c in snap.conditions] == [active]


@pytest.mark.parametrize(
    ("verification", "counts"),
    [("confirmed", True), ("provisional", True), ("refuted", False), ("entered-in-error", False)],
)
def test_refuted_and_entered_in_error_conditions_do_not_count(verification: str, counts: bool) -> None:
    snap = snapshot(condition(ICD10CM, "E21.0", verificationStatus=concept(VERIFICATION, verification)))
    assert bool(snap.conditions) is counts
    if not counts:
        assert reasons(snap) == {"Condition/c1": f"verification-{verification}"}


@pytest.mark.parametrize(
    ("fields", "onset"),
    [
        ({"onsetDateTime": iso(100)}, iso(100)),
        ({"onsetPeriod": {"start": iso(200)}}, iso(200)),
        ({"recordedDate": iso(50)}, iso(50)),
        ({}, None),
    ],
)
def test_the_onset_is_onset_then_period_start_then_recorded_date(fields: Json, onset: str | None) -> None:
    c = snapshot(condition(ICD10CM, "E21.0", **fields)).conditions[0]
    assert (c.onset.strftime("%Y-%m-%dT%H:%M:%SZ") if c.onset else None) == onset


def test_the_display_is_the_code_text() -> None:
    c = condition(ICD10CM, "E21.0") | {
        "code": concept(ICD10CM, "E21.0", "Primary hyperparathyroidism", text="PHPT")
    }
    assert snapshot(c).conditions[0].display == "PHPT"


# ---- procedures ------------------------------------------------------------------------------
@pytest.mark.parametrize(("system", "code"), [(SNOMED, "312681000"), (CPT, "77080"), (CPT, "77085")])
def test_a_completed_dxa_procedure_is_a_dxa_on_record(system: str, code: str) -> None:
    snap = snapshot(_procedure(system, code, performedDateTime=iso(300)))
    assert [set(p.sets) for p in snap.procedures] == [{"DXA"}]
    assert [(e.source, e.effective) for e in snap.dxa_events] == [("procedure", T - timedelta(days=300))]


def test_a_gi_surgery_procedure_is_also_malabsorption_history() -> None:
    snap = snapshot(_procedure(SNOMED, "442338001", performedPeriod={"start": iso(900), "end": iso(899)}))
    assert [(set(p.sets), p.performed) for p in snap.procedures] == [
        ({"GI_SURGERY", "MALABSORPTION"}, T - timedelta(days=899))
    ]


@pytest.mark.parametrize("status", ["in-progress", "not-done", "entered-in-error", "preparation"])
def test_procedures_that_are_not_completed_do_not_count(status: str) -> None:
    snap = snapshot(_procedure(SNOMED, "312681000", status=status, performedDateTime=iso(10)))
    assert snap.procedures == ()
    assert snap.dxa_events == ()
    assert reasons(snap) == {"Procedure/pr1": f"status-{status}"}


def test_an_undated_dxa_procedure_is_on_record_without_a_date() -> None:
    snap = snapshot(_procedure(SNOMED, "312681000"))
    assert [p.performed for p in snap.procedures] == [None]
    assert snap.dxa_events == ()
    assert reasons(snap) == {"Procedure/pr1": "no-effective-time"}


# ---- the patient (1.1) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "birth", "sex"),
    [
        ({"gender": "male", "birth": "1950-02-03"}, date(1950, 2, 3), "male"),
        ({"gender": "other", "birth": "1950"}, date(1950, 1, 1), "other"),
        ({"gender": "female", "birth": None}, None, "female"),
    ],
)
def test_birth_date_and_sex(fields: dict[str, str | None], birth: date | None, sex: str) -> None:
    p = patient(gender=str(fields["gender"]), birth=fields["birth"])
    snap = snapshot(p, with_patient=False)
    assert (snap.birth_date, snap.sex, snap.patient) == (birth, sex, "Patient/p1")


def test_a_patient_without_gender_is_of_unknown_sex() -> None:
    p = patient()
    del p["gender"]
    assert snapshot(p, with_patient=False).sex == "unknown"


@pytest.mark.parametrize(
    ("fields", "deceased", "deceased_at"),
    [
        ({"deceasedBoolean": True}, True, None),
        ({"deceasedBoolean": False}, False, None),
        (
            {"deceasedDateTime": "2020-05-01T10:00:00Z"},
            False,
            datetime.fromisoformat("2020-05-01T10:00:00+00:00"),
        ),
        ({}, False, None),
    ],
)
def test_deceased_boolean_and_date_time(fields: Json, deceased: bool, deceased_at: datetime | None) -> None:
    snap = snapshot(patient(**fields), with_patient=False)
    assert (snap.deceased, snap.deceased_at) == (deceased, deceased_at)
