"""Observation eligibility (RULES.md 1.2), units (3.1), reference ranges (3.4) and DXA (2.2)."""

from __future__ import annotations

import pytest

from rules import Analyte, Parameters
from rules.snapshot import DxaSite
from tests.service.adapters.fhir_json import (
    LOINC,
    SNOMED,
    UCUM,
    Json,
    T,
    concept,
    iso,
    obs,
    reasons,
    snapshot,
)


def _one_lab(o: Json) -> tuple[float, str, Analyte]:
    snap = snapshot(o)
    assert len(snap.labs) == 1, reasons(snap)
    lab = snap.labs[0]
    return lab.value, lab.unit, lab.analyte


# ---- eligibility -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_results_are_eligible(status: str) -> None:
    snap = snapshot(obs("17861-6", 9.5, "mg/dL", status=status))
    assert [lab.status for lab in snap.labs] == [status]


@pytest.mark.parametrize("status", ["registered", "preliminary", "cancelled", "entered-in-error", "unknown"])
def test_other_statuses_are_ignored_and_logged(status: str) -> None:
    snap = snapshot(obs("17861-6", 11.5, "mg/dL", status=status))
    assert snap.labs == ()
    assert reasons(snap) == {"Observation/o1": f"status-{status}"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"valueQuantity": None}, "no-value"),
        ({"valueQuantity": {"unit": "mg/dL"}}, "no-value"),
        ({"valueQuantity": None, "valueString": "high"}, "no-value"),
        ({"dataAbsentReason": {"text": "error"}}, "data-absent"),
        ({"valueQuantity": {"value": 9.5}}, "unit-unrecognised"),
        ({"valueQuantity": {"value": 9.5, "unit": "furlongs"}}, "unit-unrecognised"),
        ({"valueQuantity": {"value": 25.0, "unit": "mg/dL"}}, "implausible-value"),
        ({"valueQuantity": {"value": 1.9, "unit": "mg/dL"}}, "implausible-value"),
        ({"effectiveDateTime": None}, "no-effective-time"),
        (
            {"effectiveDateTime": "2025-13-45"},
            "invalid-resource: Observation.effectiveDateTime: not a FHIR dateTime: '2025-13-45'",
        ),
    ],
)
def test_results_that_fail_an_eligibility_rule_are_ignored_with_their_reason(
    change: Json, reason: str
) -> None:
    o = obs("17861-6", 9.5, "mg/dL")
    for key, value in change.items():
        if value is None:
            o.pop(key, None)
        else:
            o[key] = value
    snap = snapshot(o)
    assert snap.labs == ()
    assert reasons(snap) == {"Observation/o1": reason}


def test_observations_outside_every_code_set_are_neither_used_nor_logged() -> None:
    snap = snapshot(obs("2339-0", 95, "mg/dL"))
    assert snap.labs == ()
    assert snap.ignored == ()


def test_calcitriol_62290_2_is_never_read_as_25_oh_vitamin_d() -> None:
    snap = snapshot(obs("62290-2", 20, "pg/mL"), obs("14635-7", 40, "nmol/L", oid="o2"))
    assert [(lab.analyte, round(lab.value, 2)) for lab in snap.labs] == [(Analyte.VITD_D3, 16.02)]
    assert reasons(snap)["Observation/o1"].startswith("excluded-code")


def test_a_legacy_vitamin_d_result_is_passed_on_for_the_rules_to_accept_or_not() -> None:
    assert _one_lab(obs("35365-6", 25, "ng/mL"))[2] is Analyte.VITD_LEGACY


# ---- effective time --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"effectiveDateTime": iso(1), "effectivePeriod": {"end": iso(2)}, "issued": iso(3)}, iso(1)),
        ({"effectivePeriod": {"start": iso(3), "end": iso(2)}, "issued": iso(1)}, iso(2)),
        ({"effectivePeriod": {"start": iso(3)}, "issued": iso(1)}, iso(3)),
        ({"issued": iso(1)}, iso(1)),
        ({"effectiveDateTime": "2025-06"}, "2025-06-01T00:00:00Z"),
    ],
)
def test_effective_time_is_datetime_then_period_end_then_start_then_issued(
    fields: Json, expected: str
) -> None:
    o = obs("6874-2", 250, "mg/(24.h)")
    del o["effectiveDateTime"]
    snap = snapshot(o | fields)
    assert snap.labs[0].effective.strftime("%Y-%m-%dT%H:%M:%SZ") == expected


def test_a_time_without_a_zone_is_read_as_utc() -> None:
    snap = snapshot(obs("17861-6", 9.5, "mg/dL") | {"effectiveDateTime": "2025-06-01T10:00:00"})
    assert snap.labs[0].effective.isoformat() == "2025-06-01T10:00:00+00:00"


# ---- units (3.1) -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "value", "unit", "ucum", "canonical", "canonical_unit"),
    [
        ("2000-8", 2.75, "mmol/L", None, 11.022, "mg/dL"),
        ("17861-6", 95, "mg/L", None, 9.5, "mg/dL"),
        ("17861-6", 4.8, "mEq/L", "meq/L", 9.6192, "mg/dL"),
        ("1994-3", 4.8, "mg/dL", None, 1.1976, "mmol/L"),
        ("1751-7", 38, "g/L", None, 3.8, "g/dL"),
        ("14866-8", 9.8, "pmol/L", None, 92.414, "pg/mL"),
        ("2731-8", 65, "ng/L", None, 65, "pg/mL"),
        ("62292-8", 70, "nmol/L", None, 28.042, "ng/mL"),
        ("14879-1", 1.0, "mmol/L", None, 3.097, "mg/dL"),
        ("2601-3", 0.5, "mmol/L", None, 1.2155, "mg/dL"),
        ("14682-9", 88.42, "µmol/L", "umol/L", 1.0, "mg/dL"),
        ("98979-8", 1.0, "mL/s/{1.73_m2}", None, 60.0, "mL/min/{1.73_m2}"),
        ("3016-3", 0.05, "mIU/L", "m[IU]/L", 0.05, "m[IU]/L"),
        ("3016-3", 2.0, "uIU/mL", "u[IU]/mL", 2.0, "m[IU]/L"),
        ("14637-3", 7.5, "mmol/24h", "mmol/(24.h)", 300.6, "mg/(24.h)"),
    ],
)
def test_units_are_normalised_to_the_canonical_unit(
    code: str, value: float, unit: str, ucum: str | None, canonical: float, canonical_unit: str
) -> None:
    got, got_unit, _ = _one_lab(obs(code, value, unit, ucum=ucum))
    assert got == pytest.approx(canonical, rel=1e-9)
    assert got_unit == canonical_unit


def test_the_ucum_code_wins_over_the_printed_unit() -> None:
    assert _one_lab(obs("2000-8", 2.5, "mg/dL", ucum="mmol/L"))[0] == pytest.approx(10.02)


def test_the_printed_unit_is_used_when_the_code_is_missing_or_not_ucum() -> None:
    o = obs("2000-8", 2.5, "mmol/l")
    o["valueQuantity"] = {
        "value": 2.5,
        "unit": "mmol/l",
        "system": "http://example.org/units",
        "code": "MMOLL",
    }
    assert _one_lab(o)[0] == pytest.approx(10.02)


def test_egfr_in_ml_per_min_is_not_per_1_73_m2_and_is_ignored_as_unit_unrecognised() -> None:
    """Synthea reports eGFR 33914-3 inside panels as mL/min: that is a clearance, never normalised."""
    snap = snapshot(
        obs("33914-3", 55, "mL/min", oid="panel"),
        obs("33914-3", 57, "mL/min/{1.73_m2}", oid="alone"),
    )
    assert [lab.reference for lab in snap.labs] == ["Observation/alone"]
    assert reasons(snap) == {"Observation/panel": "unit-unrecognised"}


@pytest.mark.parametrize(
    ("comparator", "expected"), [("<", 2.997), ("<=", 2.997), (">", 3.003), (">=", 3.003), (None, 3.0)]
)
def test_comparators_shift_the_value_by_epsilon(comparator: str | None, expected: float) -> None:
    o = obs("2731-8", 3, "pg/mL")
    if comparator is not None:
        o["valueQuantity"]["comparator"] = comparator
    snap = snapshot(o)
    assert snap.labs[0].value == pytest.approx(expected)
    assert snap.labs[0].reported_value == 3
    assert snap.labs[0].comparator == comparator


def test_the_comparator_epsilon_is_a_parameter() -> None:
    o = obs("2731-8", 3, "pg/mL")
    o["valueQuantity"]["comparator"] = "<"
    snap = snapshot(o, params=Parameters(comparator_epsilon=0.1))
    assert snap.labs[0].value == pytest.approx(2.7)


# ---- reference ranges (3.4) ------------------------------------------------------------------
def _range(**fields: object) -> Json:
    return {"referenceRange": [fields]}


def _q(value: float, unit: str | None = "mg/dL") -> Json:
    return {"value": value} | ({"unit": unit, "system": UCUM, "code": unit} if unit else {})


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        (_range(low=_q(8.5), high=_q(10.5)), (8.5, 10.5)),
        (_range(low=_q(2.1, "mmol/L"), high=_q(2.6, "mmol/L")), (8.4168, 10.4208)),
        (_range(high=_q(10.4)), (None, 10.4)),
        (_range(low=_q(8.5, None), high=_q(10.5, None)), (None, None)),  # no unit: not convertible
        (_range(text="8.7–10.3"), (8.7, 10.3)),
        (_range(text="2.15 - 2.55 mmol/L"), (8.6172, 10.2204)),
        (_range(text="normal"), (None, None)),
        (_range(low=_q(8.0), high=_q(10.0), appliesTo=[concept(SNOMED, "248153007", "Male")]), (None, None)),
        (_range(low=_q(8.0), high=_q(10.0), appliesTo=[concept(SNOMED, "248152002", "Female")]), (8.0, 10.0)),
        (_range(low=_q(8.0), high=_q(10.0), appliesTo=[{"text": "pregnant"}]), (None, None)),
        (_range(low=_q(8.0), high=_q(10.0), age={"low": {"value": 70, "unit": "a"}}), (None, None)),
        (
            _range(
                low=_q(8.0),
                high=_q(10.0),
                age={"low": {"value": 18, "code": "a"}, "high": {"value": 65, "code": "a"}},
            ),
            (8.0, 10.0),
        ),
        (
            {
                "referenceRange": [
                    {"low": _q(1.0), "type": {"text": "treatment"}},
                    {"low": _q(8.8), "high": _q(10.1)},
                ]
            },
            (8.8, 10.1),
        ),
        (
            {"referenceRange": [{"low": _q(9.0), "high": _q(11.0), "type": {"text": "therapeutic"}}]},
            (9.0, 11.0),
        ),
    ],
)
def test_the_labs_own_range_is_converted_or_skipped(
    ranges: Json, expected: tuple[float | None, float | None]
) -> None:
    snap = snapshot(obs("17861-6", 9.5, "mg/dL") | ranges)  # the patient is a woman aged 65
    lab = snap.labs[0]
    assert (lab.ref_low, lab.ref_high) == pytest.approx(expected)


def test_the_interpretation_is_kept_for_display_only() -> None:
    o = obs("17861-6", 10.8, "mg/dL") | {
        "interpretation": [concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H")]
    }
    assert snapshot(o).labs[0].interpretation == "H"


# ---- grouping (3.2 albumin pairing) ----------------------------------------------------------
def test_results_of_a_diagnostic_report_carry_the_report() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": {"text": "panel"},
        "result": [{"reference": "Observation/o1"}, {"reference": "Observation/o2"}],
    }
    snap = snapshot(obs("17861-6", 9.5, "mg/dL"), obs("1751-7", 4.0, "g/dL", oid="o2"), report)
    assert {lab.report for lab in snap.labs} == {"DiagnosticReport/r1"}


def test_a_specimen_groups_results_when_there_is_no_report() -> None:
    spec = {"specimen": {"reference": "Specimen/s1"}}
    snap = snapshot(obs("17861-6", 9.5, "mg/dL") | spec)
    assert snap.labs[0].report == "Specimen/s1"


# ---- eGFR panels with components, race-based pairs -------------------------------------------
def test_egfr_components_are_read_and_the_race_based_value_is_logged() -> None:
    def component(code: str, value: float) -> Json:
        return {
            "code": concept(LOINC, code),
            "valueQuantity": {
                "value": value,
                "unit": "mL/min/1.73m2",
                "system": UCUM,
                "code": "mL/min/{1.73_m2}",
            },
        }

    panel = obs("33914-3", None) | {"component": [component("48642-3", 52), component("48643-1", 63)]}
    snap = snapshot(panel)
    assert sorted((lab.code, lab.value) for lab in snap.labs) == [("48642-3", 52), ("48643-1", 63)]
    assert reasons(snap) == {"Observation/o1": "race-based-egfr"}


# ---- DXA (2.2) -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "unit", "kind", "site"),
    [
        ("38267-1", "{T-score}", "T", DxaSite.LS),
        ("80948-3", "1", "T", DxaSite.FN),
        ("80933-5", None, "Z", DxaSite.TH),
        ("38265-5", "{T-score}", "T", DxaSite.RAD),
    ],
)
def test_dxa_scores_carry_kind_and_site(code: str, unit: str | None, kind: str, site: DxaSite) -> None:
    snap = snapshot(obs(code, -2.6, unit))
    assert [(s.kind, s.site, s.value) for s in snap.dxa_scores] == [(kind, site, -2.6)]
    assert [e.source for e in snap.dxa_events] == ["score"]


@pytest.mark.parametrize(("value", "reason"), [(-8.5, "implausible-value"), (8.1, "implausible-value")])
def test_implausible_scores_are_ignored(value: float, reason: str) -> None:
    snap = snapshot(obs("38267-1", value, "{T-score}"))
    assert snap.dxa_scores == ()
    assert reasons(snap) == {"Observation/o1": reason}


@pytest.mark.parametrize(("value", "counts"), [(0.887, True), (0.05, False), (3.5, False)])
def test_bmd_in_g_per_cm2_is_only_evidence_that_a_dxa_was_done(value: float, counts: bool) -> None:
    o = obs("24701-5", value, "g/cm²") | {
        "valueQuantity": {"value": value, "unit": "g/cm²", "system": UCUM, "code": "g/cm-2"}
    }
    snap = snapshot(o)
    assert snap.dxa_scores == ()
    assert [e.source for e in snap.dxa_events] == (["bmd"] if counts else [])


@pytest.mark.parametrize(
    ("body_site", "contradicted"),
    [
        (None, False),
        ({"text": "Lumbar spine"}, True),
        (concept(SNOMED, "71341001", "Bone structure of femur"), True),
        ({"text": "Left distal radius (33%)"}, False),
        (concept(SNOMED, "62413002", "Bone structure of radius"), False),
    ],
)
def test_a_radius_code_contradicted_by_its_body_site_is_flagged(
    body_site: Json | None, contradicted: bool
) -> None:
    o = obs("38265-5", -2.6, "{T-score}")
    if body_site is not None:
        o["bodySite"] = body_site
    assert snapshot(o).dxa_scores[0].radius_contradicted is contradicted


@pytest.mark.parametrize(("status", "events"), [("final", ["report"]), ("preliminary", [])])
def test_a_final_dxa_report_83311_1_is_a_dxa_on_record(status: str, events: list[str]) -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": status,
        "code": concept(LOINC, "83311-1"),
        "effectiveDateTime": iso(400),
    }
    snap = snapshot(report)
    assert [e.source for e in snap.dxa_events] == events
    assert all(e.effective < T for e in snap.dxa_events)
