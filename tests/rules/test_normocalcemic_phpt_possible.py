"""A7 `normocalcemic-phpt-possible`: every entry criterion and every exclusion at its edge.

Each secondary cause (or missing datum) must move the patient to `secondary-hpt`, never leave A7
firing; the partition property itself is tested in test_secondary_hpt.py.
"""

from __future__ import annotations

from functools import partial

import pytest

from rules.parathyroid import normocalcemic_phpt_possible, secondary_hpt
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import findings_of

A7 = "normocalcemic-phpt-possible"
A8 = "secondary-hpt"
EGFR_UNIT = "mL/min/{1.73_m2}"


fired = partial(findings_of, rules=(normocalcemic_phpt_possible.RULE, secondary_hpt.RULE))


def patient(
    *,
    pth: float = 85,
    pth_unit: str = "PTH",
    pth_days: float = 10,
    pth_ref: tuple[float | None, float | None] | None = None,
    ca_days: float | None = 10,
    vitd: float | None = 38,
    vitd_name: str = "VITD",
    vitd_unit: str = "ng/mL",
    vitd_days: float = 10,
    egfr: float | None = 82,
    egfr_days: float = 10,
) -> PatientBuilder:
    """A normocalcaemic patient with raised PTH and every secondary cause excluded (V12-like)."""
    p = a_patient(61, "female")
    unit = "pmol/L" if pth_unit == "PTH_MOL" else "pg/mL"
    p.lab(pth_unit, pth, unit, days_ago=pth_days, ref=pth_ref)
    if ca_days is not None:
        p.lab("CA", 9.6, "mg/dL", days_ago=ca_days).lab("ALB", 4.2, "g/dL", days_ago=ca_days)
    if vitd is not None:
        p.lab(vitd_name, vitd, vitd_unit, days_ago=vitd_days)
    if egfr is not None:
        p.lab("EGFR", egfr, EGFR_UNIT, days_ago=egfr_days)
    return p


def which(p: PatientBuilder) -> set[str]:
    return set(fired(p))


def test_v12_all_secondary_causes_excluded_gives_possible_nphpt() -> None:
    p = (
        a_patient(61, "female")
        .lab("CA", 9.8, "mg/dL", days_ago=10)
        .lab("ALB", 4.2, "g/dL", days_ago=10)
        .lab("ICA", 1.27, "mmol/L", days_ago=10)
        .lab("PTH", 85, "pg/mL", days_ago=10)
        .lab("VITD", 38, "ng/mL", days_ago=10)
        .lab("EGFR", 82, EGFR_UNIT, days_ago=10)
        .lab("PTH", 79, "pg/mL", days_ago=130)
        .lab("CA", 9.9, "mg/dL", days_ago=130)
        .lab("ALB", 4.1, "g/dL", days_ago=130)
    )
    findings = fired(p)
    assert set(findings) == {A7}
    finding = findings[A7]
    assert finding.indicator == "info"
    assert "Raised PTH 85 pg/mL" in finding.summary
    assert "possible normocalcemic PHPT" in finding.summary
    assert len(finding.summary) < 140
    assert not any(s.code == "1994-3" for s in finding.suggestions)  # ionized Ca already measured
    assert any(s.code == "6874-2" for s in finding.suggestions)
    assert any(s.kind == "referral" for s in finding.suggestions)
    assert "jbmr.4677" in finding.detail


def test_ionized_calcium_is_suggested_when_not_measured_near_the_pth() -> None:
    finding = fired(patient())[A7]
    assert any(s.code == "1994-3" for s in finding.suggestions)


@pytest.mark.parametrize(
    ("pth", "unit_name", "expected"),
    [
        (65, "PTH", set()),
        (65.01, "PTH", {A7}),
        (6.89, "PTH_MOL", set()),  # 64.97 pg/mL
        (6.9, "PTH_MOL", {A7}),  # 65.07 pg/mL
    ],
)
def test_fires_only_when_pth_is_above_the_uln(pth: float, unit_name: str, expected: set[str]) -> None:
    assert which(patient(pth=pth, pth_unit=unit_name)) == expected


def test_pth_in_pmol_per_litre_is_shown_as_reported() -> None:
    finding = fired(patient(pth=9.8, pth_unit="PTH_MOL"))[A7]
    assert "9.8 pmol/L" in finding.summary


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ((15.0, 88.0), set()),  # the lab's ULN 88 applies: PTH 80 is normal
        ((10.0, 120.0), {A7}),  # ULN 120 is outside the sanity band 35-100: default 65 applies
        ((10.0, 35.0), {A7}),  # sanity band edge: ULN 35 accepted
    ],
)
def test_the_labs_own_pth_range_applies_within_the_sanity_band(
    ref: tuple[float, float], expected: set[str]
) -> None:
    assert which(patient(pth=80, pth_ref=ref)) == expected


@pytest.mark.parametrize(("pth_days", "expected"), [(365, {A7}), (366, set())])
def test_index_pth_must_lie_within_365_days(pth_days: int, expected: set[str]) -> None:
    assert which(patient(pth_days=pth_days, ca_days=pth_days)) == expected


def test_the_latest_pth_decides_even_when_an_older_one_was_raised() -> None:
    p = patient(pth=50).lab("PTH", 95, "pg/mL", days_ago=100)
    assert which(p) == set()


@pytest.mark.parametrize(
    ("vitd", "name", "unit", "expected"),
    [
        (30, "VITD", "ng/mL", A7),
        (29.99, "VITD", "ng/mL", A8),
        (75, "VITD_MOL", "nmol/L", A7),  # 30.05 ng/mL
        (74.8, "VITD_MOL", "nmol/L", A8),  # 29.96 ng/mL
        (None, "VITD", "ng/mL", A8),
    ],
)
def test_25oh_d_below_30_or_missing_hands_over_to_secondary_hpt(
    vitd: float | None, name: str, unit: str, expected: str
) -> None:
    assert which(patient(vitd=vitd, vitd_name=name, vitd_unit=unit)) == {expected}


@pytest.mark.parametrize(("vitd_days", "expected"), [(365, A7), (366, A8)])
def test_25oh_d_older_than_365_days_counts_as_missing(vitd_days: int, expected: str) -> None:
    assert which(patient(vitd_days=vitd_days)) == {expected}


def test_d3_and_d2_of_the_same_draw_are_summed_for_the_30_ng_ml_floor() -> None:
    p = patient(vitd=None).lab("VITD3", 22, "ng/mL", days_ago=10).lab("VITD2", 9, "ng/mL", days_ago=10)
    assert which(p) == {A7}


@pytest.mark.parametrize(
    ("egfr", "egfr_days", "expected"),
    [(60, 10, A7), (59.99, 10, A8), (None, 10, A8), (82, 365, A7), (82, 366, A8)],
)
def test_egfr_below_60_or_missing_hands_over_to_secondary_hpt(
    egfr: float | None, egfr_days: int, expected: str
) -> None:
    assert which(patient(egfr=egfr, egfr_days=egfr_days)) == {expected}


def test_egfr_computed_from_creatinine_is_not_missing() -> None:
    p = patient(egfr=None).lab("CREAT", 0.8, "mg/dL", days_ago=10)
    assert which(p) == {A7}


@pytest.mark.parametrize(
    ("ca_days", "expected"),
    [(40, A7), (39, A8), (100, A7), (101, A8), (None, A8)],
)
def test_a_calcium_within_30_days_of_the_pth_is_required(ca_days: int | None, expected: str) -> None:
    # PTH on d-70: calcium on d-40 (30 d after) and d-100 (30 d before) pair, d-39 and d-101 do not.
    assert which(patient(pth_days=70, ca_days=ca_days)) == {expected}


def test_a_low_calcium_near_the_pth_hands_over_to_secondary_hpt() -> None:
    p = patient(ca_days=None).lab("CA", 8.2, "mg/dL", days_ago=12).lab("ALB", 4.0, "g/dL", days_ago=12)
    assert which(p) == {A8}


@pytest.mark.parametrize(("high_days", "expected"), [(365, set()), (366, {A7})])
def test_any_high_calcium_within_365_days_belongs_to_phpt_suspected(
    high_days: int, expected: set[str]
) -> None:
    p = patient().lab("CA", 10.9, "mg/dL", days_ago=high_days).lab("ALB", 4.0, "g/dL", days_ago=high_days)
    assert which(p) == expected


def test_v43_intermittent_hypercalcaemia_silences_both() -> None:
    p = (
        a_patient(63, "female")
        .lab("CA", 10, "mg/dL", days_ago=10)
        .lab("ALB", 4, "g/dL", days_ago=10)
        .lab("PTH", 95, "pg/mL", days_ago=10)
        .lab("VITD", 35, "ng/mL", days_ago=10)
        .lab("EGFR", 80, EGFR_UNIT, days_ago=10)
        .lab("CA", 10.9, "mg/dL", days_ago=200)
        .lab("ALB", 4, "g/dL", days_ago=200)
    )
    assert which(p) == set()


def test_v05_high_calcium_now_silences_both() -> None:
    p = (
        a_patient(60, "female")
        .lab("CA_MOL", 2.75, "mmol/L", days_ago=7)
        .lab("ALB", 38, "g/L", days_ago=7)
        .lab("PTH_MOL", 9.8, "pmol/L", days_ago=7)
        .lab("VITD_MOL", 70, "nmol/L", days_ago=7)
        .lab("EGFR", 80, EGFR_UNIT, days_ago=7)
    )
    assert which(p) == set()


def test_uncorrected_high_calcium_counts_as_high() -> None:
    assert which(patient().lab("CA", 10.5, "mg/dL", days_ago=200)) == set()


@pytest.mark.parametrize(("active", "expected"), [(True, set()), (False, {A7})])
def test_only_an_active_phpt_condition_silences_it(active: bool, expected: set[str]) -> None:
    assert which(patient().condition("E21.0", active=active)) == expected


@pytest.mark.parametrize("active", [True, False])
def test_malabsorption_history_of_any_status_hands_over_to_secondary_hpt(active: bool) -> None:
    assert which(patient().condition("Z98.84", active=active)) == {A8}


@pytest.mark.parametrize(
    ("status", "ended_days_ago", "expected"),
    [("active", None, A8), ("completed", 365, A8), ("completed", 366, A7)],
)
def test_pth_raising_drug_within_365_days_hands_over_to_secondary_hpt(
    status: str, ended_days_ago: int | None, expected: str
) -> None:
    p = patient().med("furosemide", since_days=900, status=status, ended_days_ago=ended_days_ago)
    assert which(p) == {expected}


def test_a_current_low_index_calcium_rules_out_normal_calcium() -> None:
    # Calcium near the PTH (d-200) is normal, but the index calcium now is low (safest reading).
    p = (
        patient(pth_days=200, ca_days=200)
        .lab("CA", 8.0, "mg/dL", days_ago=5)
        .lab("ALB", 4.0, "g/dL", days_ago=5)
    )
    assert which(p) == {A8}
    finding = fired(p)[A8]
    assert "hypocalcemia" in finding.data["causes"]
    assert "8 mg/dL" in finding.detail  # the low index calcium is shown


def test_a_staged_ckd_condition_excludes_nphpt_even_with_egfr_60_or_more() -> None:
    assert which(patient().condition("N18.31")) == {A8}


def test_dialysis_never_gives_nphpt() -> None:
    assert which(patient().condition("N18.6")) == set()


def test_runs_on_background_notifications_but_not_on_order_hooks() -> None:
    assert set(fired(patient(), hook="background")) == {A7}
    assert fired(patient(), hook="order-sign") == {}
