"""Medication records → MedicationExposure (RULES.md 1.3, 2.4, 10.1 #13)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules import Hook, MedicationExposure
from tests.service.adapters.fhir_json import (
    ATC,
    RXNORM,
    SNOMED,
    SUBJECT,
    Json,
    T,
    concept,
    dosage,
    iso,
    med_request,
    reasons,
    snapshot,
)

PREDNISONE = concept(RXNORM, "8640", "prednisone")
ORAL = concept(SNOMED, "26643006", "Oral route")


def _one(resource: Json, hook: Hook = Hook.PATIENT_VIEW) -> MedicationExposure:
    snap = snapshot(resource, hook=hook)
    found = snap.medications + snap.draft_orders
    assert len(found) == 1, reasons(snap)
    return found[0]


# ---- ingredients and classes -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("medication", "ingredients", "text_match"),
    [
        (concept(RXNORM, "46041", "alendronate"), {"alendronate"}, False),  # RxNorm ingredient
        (concept(RXNORM, "904419", "Alendronic acid 10 MG Oral Tablet"), {"alendronate"}, False),  # product
        (concept(ATC, "M05BX04", "denosumab"), {"denosumab"}, False),
        ({"text": "Zoledronic acid 5 mg/100 mL infusion"}, {"zoledronic acid"}, True),
        (
            concept(RXNORM, "979480", "Losartan Potassium 50 MG / Hydrochlorothiazide 12.5 MG Oral Tablet"),
            {"hydrochlorothiazide"},
            True,
        ),  # unknown product code: its display is matched by name
    ],
)
def test_medications_resolve_to_ingredients(
    medication: Json, ingredients: set[str], text_match: bool
) -> None:
    m = _one(med_request(medication))
    assert m.ingredients == ingredients
    assert m.text_match is text_match


def test_classes_include_the_derived_classes() -> None:
    m = _one(med_request(concept(RXNORM, "993449", "denosumab")))
    assert {"DENOSUMAB", "OP_THERAPY", "ANTIRESORPTIVE_ORDER", "PTH_RAISING_DRUGS"} <= m.classes


def test_medications_with_no_known_ingredient_are_not_relevant() -> None:
    snap = snapshot(med_request(concept(RXNORM, "617993", "Amoxicillin 120 MG/ML Oral Suspension")))
    assert snap.medications == ()
    assert snap.ignored == ()


def test_a_contained_medication_resolves_through_its_ingredients() -> None:
    med = {
        "resourceType": "Medication",
        "id": "m",
        "code": {"text": "Compounded capsule"},
        "ingredient": [{"itemCodeableConcept": concept(RXNORM, "8640", "prednisone")}],
        "form": concept(SNOMED, "385055001", "Tablet"),
    }
    req = med_request(contained=[med], medicationReference={"reference": "#m"})
    m = _one(req)
    assert m.ingredients == {"prednisone"}
    assert m.route == "systemic"  # from the Medication's form


def test_an_unresolved_medication_reference_is_matched_by_its_display() -> None:
    req = med_request(medicationReference={"reference": "Medication/elsewhere", "display": "Prolia 60 mg"})
    m = _one(req)
    assert (m.ingredients, m.text_match) == (frozenset({"denosumab"}), True)


# ---- status and intent -----------------------------------------------------------------------
@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "unknown", "draft"])
def test_ignored_request_statuses_are_logged(status: str) -> None:
    snap = snapshot(med_request(PREDNISONE, status=status))
    assert snap.medications == snap.draft_orders == ()
    assert reasons(snap) == {"MedicationRequest/m1": f"status-{status}"}


def test_a_statement_not_taken_is_ignored() -> None:
    st = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "not-taken",
        "medicationCodeableConcept": PREDNISONE,
        "subject": SUBJECT,
    }
    assert reasons(snapshot(st)) == {"MedicationStatement/s1": "status-not-taken"}


@pytest.mark.parametrize("hook", [Hook.ORDER_SELECT, Hook.ORDER_SIGN])
def test_drafts_are_the_orders_under_evaluation_on_order_hooks(hook: Hook) -> None:
    snap = snapshot(
        med_request(PREDNISONE, status="draft"), hook=hook, selections=frozenset({"MedicationRequest/m1"})
    )
    assert snap.medications == ()
    assert [(d.reference, d.is_draft) for d in snap.draft_orders] == [("MedicationRequest/m1", True)]
    assert snap.selections == frozenset({"MedicationRequest/m1"})


@pytest.mark.parametrize(
    ("intent", "is_order"),
    [
        ("order", True),
        ("original-order", True),
        ("reflex-order", True),
        ("filler-order", True),
        ("instance-order", True),
        ("plan", False),
        ("proposal", False),
    ],
)
def test_only_order_intents_are_orders(intent: str, is_order: bool) -> None:
    assert _one(med_request(PREDNISONE, intent=intent)).is_order is is_order


def test_a_do_not_perform_request_is_ignored() -> None:
    snap = snapshot(med_request(PREDNISONE, doNotPerform=True))
    assert reasons(snap) == {"MedicationRequest/m1": "do-not-perform"}


# ---- dates (1.3) -----------------------------------------------------------------------------
def _supply(days: float, repeats: int | None = None) -> Json:
    d: Json = {
        "expectedSupplyDuration": {
            "value": days,
            "unit": "days",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    }
    return d | ({} if repeats is None else {"numberOfRepeatsAllowed": repeats})


@pytest.mark.parametrize(
    ("extra", "end_days_ago"),
    [
        (
            {
                "dosageInstruction": [
                    {"timing": {"repeat": {"boundsPeriod": {"start": iso(30), "end": iso(5)}}}}
                ],
                "dispenseRequest": {"validityPeriod": {"end": iso(10)}},
            },
            5,
        ),
        ({"dispenseRequest": {"validityPeriod": {"end": iso(10)}} | _supply(10)}, 10),
        ({"dispenseRequest": _supply(10, repeats=1)}, 10),  # authored 30 d ago + 10 × (1 + 1)
        ({"dispenseRequest": _supply(10)}, 20),
        ({}, 30),  # else authoredOn
    ],
)
def test_the_end_date_of_a_request_follows_rules_md_1_3(extra: Json, end_days_ago: float) -> None:
    m = _one(med_request(PREDNISONE, status="completed", **extra))
    assert m.end == T - timedelta(days=end_days_ago)


def test_the_end_date_of_a_statement_is_its_effective_period_end() -> None:
    st = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "completed",
        "medicationCodeableConcept": PREDNISONE,
        "subject": SUBJECT,
        "effectivePeriod": {"start": iso(200), "end": iso(100)},
    }
    m = _one(st)
    assert (m.start, m.end) == (T - timedelta(days=200), T - timedelta(days=100))


@pytest.mark.parametrize(
    ("extra", "planned"),
    [
        ({"dispenseRequest": _supply(30, repeats=2)}, 90),
        (
            {
                "dosageInstruction": [
                    {"timing": {"repeat": {"boundsPeriod": {"start": iso(0), "end": iso(-60)}}}}
                ]
            },
            60,
        ),
        ({"dispenseRequest": {"validityPeriod": {"start": iso(0), "end": iso(-45)}}}, 45),
        (
            {"dosageInstruction": [{"timing": {"repeat": {"boundsDuration": {"value": 12, "code": "wk"}}}}]},
            84,
        ),
        ({}, None),
    ],
)
def test_planned_days_of_a_draft(extra: Json, planned: float | None) -> None:
    m = _one(med_request(PREDNISONE, status="draft", **extra), hook=Hook.ORDER_SIGN)
    assert m.planned_days == planned


# ---- route (2.4) -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("medication", "route_concept", "route"),
    [
        (PREDNISONE, ORAL, "systemic"),
        (PREDNISONE, concept(SNOMED, "47625008", "Intravenous route"), "systemic"),
        (PREDNISONE, concept(SNOMED, "78421000", "Intramuscular route"), "systemic"),
        (PREDNISONE, concept(SNOMED, "34206005", "Subcutaneous route"), "systemic"),
        (PREDNISONE, concept(SNOMED, "447694001", "Respiratory tract route"), "non-systemic"),
        (PREDNISONE, concept(SNOMED, "18679011000001101", "Inhalation"), "non-systemic"),
        (PREDNISONE, concept(SNOMED, "46713006", "Nasal route"), "non-systemic"),
        (PREDNISONE, concept(SNOMED, "6064005", "Topical route"), "non-systemic"),
        (PREDNISONE, concept(SNOMED, "37161004", "Rectal route"), "non-systemic"),
        (PREDNISONE, {"text": "by mouth"}, "systemic"),
        (PREDNISONE, {"text": "intra-articular"}, "non-systemic"),
        (concept(RXNORM, "106258", "Hydrocortisone 10 MG/ML Topical Cream"), None, "non-systemic"),
        (concept(RXNORM, "351109", "budesonide 0.25 MG/ML Inhalation Suspension"), None, "non-systemic"),
        ({"text": "Fluticasone propionate 50 MCG/ACTUAT Nasal Spray / dexamethasone"}, None, "non-systemic"),
        (concept(RXNORM, "312617", "predniSONE 5 MG Oral Tablet"), None, "systemic"),
        (PREDNISONE, None, None),  # unknown
    ],
)
def test_the_route_comes_from_the_dosage_or_else_the_product(
    medication: Json, route_concept: Json | None, route: str | None
) -> None:
    m = _one(med_request(medication, dosageInstruction=[dosage(5, route=route_concept)]))
    assert m.route == route


# ---- daily dose (2.4) ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("medication", "dose", "unit", "timing", "daily"),
    [
        (PREDNISONE, 10, "mg", {"frequency": 1, "period": 1, "period_unit": "d"}, 10.0),
        (PREDNISONE, 5, "mg", {"frequency": 2, "period": 1, "period_unit": "d"}, 10.0),
        (PREDNISONE, 20, "mg", {"frequency": 1, "period": 2, "period_unit": "d"}, 10.0),  # alternate days
        (PREDNISONE, 2.5, "mg", {"frequency": 1, "period": 8, "period_unit": "h"}, 7.5),
        (PREDNISONE, 0.01, "g", {"frequency": 1, "period": 1, "period_unit": "d"}, 10.0),
        (PREDNISONE, 500, "ug", {"frequency": 1, "period": 1, "period_unit": "d"}, 0.5),
        (
            concept(RXNORM, "312617", "predniSONE 5 MG Oral Tablet"),
            2,
            None,
            {"frequency": 1, "period": 1, "period_unit": "d"},
            10.0,
        ),
        (
            concept(RXNORM, "312617", "predniSONE 5 MG Oral Tablet"),
            1,
            "{tbl}",
            {"frequency": 1, "period": 1, "period_unit": "d"},
            5.0,
        ),
        (
            {"text": "prednisolone 5 MG/ML oral solution"},
            2,
            "mL",
            {"frequency": 1, "period": 1, "period_unit": "d"},
            10.0,
        ),
        (PREDNISONE, 2, "puffs", {"frequency": 1, "period": 1, "period_unit": "d"}, None),
        (PREDNISONE, 1, None, {"frequency": 1, "period": 1, "period_unit": "d"}, None),  # strength unknown
        (PREDNISONE, 10, "mg", {"frequency": 1, "period": 1, "period_unit": "fortnight"}, None),
    ],
)
def test_the_daily_dose_in_mg(
    medication: Json, dose: float, unit: str | None, timing: dict[str, object], daily: float | None
) -> None:
    m = _one(med_request(medication, dosageInstruction=[dosage(dose, unit, **timing)]))  # type: ignore[arg-type]
    assert m.daily_dose_mg == (pytest.approx(daily) if daily is not None else None)


@pytest.mark.parametrize(("code", "per_day"), [("BID", 2), ("TID", 3), ("QD", 1), ("QOD", 0.5)])
def test_the_daily_dose_from_a_timing_code(code: str, per_day: float) -> None:
    d = {
        "timing": {"code": concept("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", code)},
        "doseAndRate": [
            {"doseQuantity": {"value": 10, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
        ],
    }
    assert _one(med_request(PREDNISONE, dosageInstruction=[d])).daily_dose_mg == 10 * per_day


@pytest.mark.parametrize(
    ("medication", "factor"),
    [
        (PREDNISONE, 1.0),
        (concept(RXNORM, "3264", "dexamethasone"), 6.67),
        (concept(RXNORM, "19831", "budesonide"), None),
    ],
)
def test_the_prednisone_equivalent_factor_comes_from_the_code_sets(
    medication: Json, factor: float | None
) -> None:
    assert _one(med_request(medication)).pe_factor == factor


# ---- administrations (10.1 #13) --------------------------------------------------------------
@pytest.mark.parametrize(
    ("medication", "dose", "days"),
    [
        (concept(RXNORM, "993449", "denosumab"), 60, 182),
        (concept(RXNORM, "993449", "denosumab"), 120, 28),
        (concept(RXNORM, "77655", "zoledronic acid"), 5, 365),
        (concept(RXNORM, "752899", "0.25 ML Leuprolide Acetate 30 MG/ML Prefilled Syringe"), None, 90),
        (concept(RXNORM, "5224", "heparin"), None, 30),
    ],
)
def test_administrations_count_as_current_for_their_dosing_interval(
    medication: Json, dose: float | None, days: float
) -> None:
    admin: Json = {
        "resourceType": "MedicationAdministration",
        "id": "a1",
        "status": "completed",
        "medicationCodeableConcept": medication,
        "subject": SUBJECT,
        "effectiveDateTime": iso(10),
    }
    if dose is not None:
        admin["dosage"] = {
            "dose": {"value": dose, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
        }
    m = _one(admin)
    assert (m.source, m.start, m.dosing_interval_days) == ("administration", T - timedelta(days=10), days)


def test_an_administration_not_done_is_ignored() -> None:
    admin = {
        "resourceType": "MedicationAdministration",
        "id": "a1",
        "status": "not-done",
        "medicationCodeableConcept": concept(RXNORM, "993449"),
        "subject": SUBJECT,
        "effectiveDateTime": iso(10),
    }
    assert reasons(snapshot(admin)) == {"MedicationAdministration/a1": "status-not-done"}


def test_an_unreadable_date_rejects_only_that_medication() -> None:
    snap = snapshot(med_request(PREDNISONE, authoredOn="yesterday"), med_request(PREDNISONE, mid="m2"))
    assert [m.reference for m in snap.medications] == ["MedicationRequest/m2"]
    assert reasons(snap)["MedicationRequest/m1"].startswith("invalid-resource: not a FHIR dateTime")
