"""A3 `phpt-suspected`: both branches, the PTH cut-off and pairing window, exclusions, wording, vignettes."""

from __future__ import annotations

import pytest

from rules.engine import evaluate
from rules.findings import Finding
from rules.parathyroid.phpt_suspected import RULE
from tests.builders import PatientBuilder, a_patient

EGFR_UNIT = "mL/min/{1.73_m2}"


def finding(builder: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    result = evaluate(builder.snapshot(hook), rules=[RULE])
    assert result.failures == ()
    return result.findings[0] if result.findings else None


def high_ca(age: int = 60, sex: str = "female", *, ca: float = 11.0, days_ago: float = 5) -> PatientBuilder:
    return (
        a_patient(age, sex)
        .lab("CA", ca, "mg/dL", days_ago=days_ago)
        .lab("ALB", 4.0, "g/dL", days_ago=days_ago)
    )


# ---- current branch ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pth", "unit", "fires"),
    [
        ("PTH", 19.99, "pg/mL", False),
        ("PTH", 20.0, "pg/mL", True),
        ("PTH", 19.99, "ng/L", False),
        ("PTH", 20.0, "ng/L", True),
        ("PTH_MOL", 2.1, "pmol/L", False),  # 19.8 pg/mL: suppressed
        ("PTH_MOL", 2.2, "pmol/L", True),  # 20.7 pg/mL
    ],
)
def test_fires_when_the_paired_pth_is_at_least_20_pg_per_ml(
    name: str, pth: float, unit: str, fires: bool
) -> None:
    p = high_ca().lab(name, pth, unit, days_ago=5)
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(("ca", "fires"), [(10.2, False), (10.21, True)])
def test_needs_the_index_calcium_above_the_upper_reference_limit(ca: float, fires: bool) -> None:
    p = high_ca(ca=ca).lab("PTH", 80, "pg/mL", days_ago=5)
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(
    ("ca_days_ago", "pth_days_ago", "fires"),
    [
        (5, 35, True),  # PTH 30 days before the calcium
        (5, 36, False),  # 31 days before
        (40, 10, True),  # 30 days after
        (40, 9, False),  # 31 days after
    ],
)
def test_the_pth_must_lie_within_30_days_of_the_index_calcium(
    ca_days_ago: float, pth_days_ago: float, fires: bool
) -> None:
    p = high_ca(days_ago=ca_days_ago).lab("PTH", 80, "pg/mL", days_ago=pth_days_ago)
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(
    ("near_pth", "far_pth", "fires"),
    [(10, 80, False), (80, 10, True)],
)
def test_the_pth_closest_to_the_calcium_decides(near_pth: float, far_pth: float, fires: bool) -> None:
    p = (
        high_ca(days_ago=5)
        .lab("PTH", near_pth, "pg/mL", days_ago=6)
        .lab("PTH", far_pth, "pg/mL", days_ago=20)
    )
    assert (finding(p) is not None) is fires


def test_no_pth_means_no_card_because_a1_covers_it() -> None:
    assert finding(high_ca()) is None


def test_a_preliminary_pth_is_ignored() -> None:
    p = high_ca().lab("PTH", 75, "pg/mL", days_ago=2, status="preliminary")
    assert finding(p) is None


def test_an_uncorrected_calcium_counts_and_asks_for_albumin() -> None:
    p = a_patient(60).lab("CA", 11.0, "mg/dL", days_ago=5).lab("PTH", 80, "pg/mL", days_ago=5)
    f = finding(p)
    assert f is not None
    assert "No albumin" in f.detail
    assert "1751-7" in {s.code for s in f.suggestions}


def test_card_is_a_warning_with_template_summary_and_workup() -> None:
    f = finding(high_ca(ca=11.2).lab("PTH", 98, "pg/mL", days_ago=5))
    assert f is not None
    assert f.indicator == "warning"
    assert f.summary == (
        "Calcium 11.2 mg/dL with non-suppressed PTH 98 pg/mL: possible primary hyperparathyroidism."
    )
    codes = {s.code for s in f.suggestions}
    assert {"17861-6", "1751-7", "1994-3", "2731-8", "6874-2"} <= codes
    assert any(s.kind == "referral" for s in f.suggestions)
    assert f.data["branch"] == "current"


@pytest.mark.parametrize(("with_vitd", "with_egfr"), [(False, False), (True, True)])
def test_missing_vitamin_d_or_egfr_does_not_block_and_is_suggested(with_vitd: bool, with_egfr: bool) -> None:
    p = high_ca().lab("PTH", 80, "pg/mL", days_ago=5)
    if with_vitd:
        p = p.lab("VITD", 35, "ng/mL", days_ago=5)
    if with_egfr:
        p = p.lab("EGFR", 80, EGFR_UNIT, days_ago=5)
    f = finding(p)
    assert f is not None
    codes = {s.code for s in f.suggestions}
    assert ("62292-8" in codes) is not with_vitd
    assert ("2160-0" in codes) is not with_egfr


# ---- exclusions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("active", "fires"), [(True, False), (False, True)])
def test_an_active_phpt_condition_hands_over_to_surgical_criteria(active: bool, fires: bool) -> None:
    p = high_ca().lab("PTH", 80, "pg/mL", days_ago=5).condition("E21.0", active=active)
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(
    ("ingredient", "ended_days_ago", "fires"),
    [
        ("hydrochlorothiazide", None, False),
        ("chlorthalidone", None, False),
        ("lithium carbonate", None, False),
        ("hydrochlorothiazide", 90, False),
        ("hydrochlorothiazide", 91, True),
        ("lithium carbonate", 90, False),
        ("lithium carbonate", 91, True),
        ("furosemide", None, True),  # loop diuretics are not an exclusion
    ],
)
def test_thiazide_or_lithium_within_90_days_replaces_phpt_suspected(
    ingredient: str, ended_days_ago: float | None, fires: bool
) -> None:
    p = high_ca().lab("PTH", 80, "pg/mL", days_ago=5)
    if ended_days_ago is None:
        p = p.med(ingredient, since_days=400)
    else:
        p = p.med(ingredient, since_days=400, status="completed", ended_days_ago=ended_days_ago)
    assert (finding(p) is not None) is fires


# ---- intermittent branch ----------------------------------------------------------------------


def intermittent(*, high_days_ago: float = 200, pth: float = 95, pth_days_ago: float = 10) -> PatientBuilder:
    return (
        a_patient(63)
        .lab("CA", 10.0, "mg/dL", days_ago=10)
        .lab("ALB", 4.0, "g/dL", days_ago=10)
        .lab("PTH", pth, "pg/mL", days_ago=pth_days_ago)
        .lab("CA", 10.9, "mg/dL", days_ago=high_days_ago)
        .lab("ALB", 4.0, "g/dL", days_ago=high_days_ago)
    )


def test_intermittent_high_calcium_with_raised_pth_fires() -> None:
    f = finding(intermittent())
    assert f is not None
    assert f.data["branch"] == "intermittent"
    assert "10.9 mg/dL" in f.summary
    assert "95 pg/mL" in f.summary


@pytest.mark.parametrize(("high_days_ago", "fires"), [(365, True), (366, False)])
def test_intermittent_high_calcium_must_be_within_365_days(high_days_ago: float, fires: bool) -> None:
    assert (finding(intermittent(high_days_ago=high_days_ago)) is not None) is fires


@pytest.mark.parametrize(("pth", "fires"), [(65, False), (65.1, True)])
def test_intermittent_pth_must_be_above_its_upper_limit(pth: float, fires: bool) -> None:
    assert (finding(intermittent(pth=pth)) is not None) is fires


@pytest.mark.parametrize(("ref", "fires"), [(None, False), ((10, 45), True)])
def test_intermittent_uses_the_labs_own_pth_range(ref: tuple[float, float] | None, fires: bool) -> None:
    p = (
        a_patient(63)
        .lab("CA", 10.9, "mg/dL", days_ago=200)
        .lab("ALB", 4.0, "g/dL", days_ago=200)
        .lab("PTH", 50, "pg/mL", days_ago=10, ref=ref)
    )
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(("pth_days_ago", "fires"), [(365, True), (366, False)])
def test_intermittent_pth_must_be_within_365_days(pth_days_ago: float, fires: bool) -> None:
    assert (finding(intermittent(pth_days_ago=pth_days_ago)) is not None) is fires


def test_intermittent_uses_the_latest_pth() -> None:
    p = intermittent(pth=95, pth_days_ago=100).lab("PTH", 50, "pg/mL", days_ago=5)
    assert finding(p) is None


def test_intermittent_fires_even_without_a_recent_calcium() -> None:
    p = (
        a_patient(63)
        .lab("PTH", 90, "pg/mL", days_ago=100)
        .lab("CA", 10.9, "mg/dL", days_ago=200)
        .lab("ALB", 4.0, "g/dL", days_ago=200)
    )
    assert finding(p) is not None


def test_intermittent_with_a_thiazide_still_fires_and_names_the_drug() -> None:
    # A5 needs a HIGH calcium now and cannot take over; silence would drop the patient.
    f = finding(intermittent().med("hydrochlorothiazide", since_days=400))
    assert f is not None
    assert "hydrochlorothiazide" in f.detail


def test_no_high_calcium_within_365_days_is_not_intermittent() -> None:
    p = (
        a_patient(63)
        .lab("CA", 10.0, "mg/dL", days_ago=10)
        .lab("ALB", 4.0, "g/dL", days_ago=10)
        .lab("PTH", 95, "pg/mL", days_ago=10)
    )
    assert finding(p) is None


def test_no_pth_at_all_is_not_intermittent() -> None:
    p = a_patient(63).lab("CA", 10.9, "mg/dL", days_ago=200).lab("ALB", 4.0, "g/dL", days_ago=200)
    assert finding(p) is None


# ---- tertiary wording -------------------------------------------------------------------------


@pytest.mark.parametrize(("egfr", "tertiary"), [(29, True), (30, False)])
def test_egfr_below_30_switches_to_tertiary_wording(egfr: float, tertiary: bool) -> None:
    f = finding(high_ca().lab("PTH", 300, "pg/mL", days_ago=5).lab("EGFR", egfr, EGFR_UNIT, days_ago=5))
    assert f is not None
    assert ("consider tertiary hyperparathyroidism" in f.summary) is tertiary
    assert ("possible primary hyperparathyroidism" in f.summary) is not tertiary
    assert len(f.summary) < 140


def test_dialysis_switches_to_tertiary_wording() -> None:
    f = finding(high_ca().lab("PTH", 300, "pg/mL", days_ago=5).condition("Z99.2"))
    assert f is not None
    assert "PTH-dependent hypercalcemia — consider tertiary hyperparathyroidism" in f.summary
    assert f.data["tertiary"] == "true"


# ---- vignettes --------------------------------------------------------------------------------

V01 = (
    a_patient(62)
    .lab("CA", 11.2, "mg/dL", days_ago=10)
    .lab("ALB", 4.1, "g/dL", days_ago=10)
    .lab("PTH", 98, "pg/mL", days_ago=10)
    .lab("VITD", 32, "ng/mL", days_ago=10)
    .lab("EGFR", 85, EGFR_UNIT, days_ago=10)
    .lab("PO4", 2.4, "mg/dL", days_ago=10)
    .dxa("T", "LS", -1.8, days_ago=200)
    .dxa("T", "TH", -1.2, days_ago=200)
    .dxa("T", "FN", -1.5, days_ago=200)
    .dxa("T", "RAD", -2.1, days_ago=200)
)
V02 = (
    a_patient(58)
    .lab("CA", 11.6, "mg/dL", days_ago=20)
    .lab("ALB", 4, "g/dL", days_ago=20)
    .lab("PTH", 120, "pg/mL", days_ago=20)
    .lab("EGFR", 72, EGFR_UNIT, days_ago=20)
    .lab("UCA24", 310, "mg/(24.h)", days_ago=100)
    .condition("E21.0")
)
V03 = (
    a_patient(67)
    .lab("CA", 10.6, "mg/dL", days_ago=30)
    .lab("ALB", 4, "g/dL", days_ago=30)
    .lab("PTH", 80, "pg/mL", days_ago=30)
    .condition("E21.0")
)
V04 = a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5).lab("ALB", 4.2, "g/dL", days_ago=5)
V05 = (
    a_patient(60)
    .lab("CA_MOL", 2.75, "mmol/L", days_ago=7)
    .lab("ALB", 38, "g/L", days_ago=7)
    .lab("PTH_MOL", 9.8, "pmol/L", days_ago=7)
    .lab("VITD_MOL", 70, "nmol/L", days_ago=7)
    .lab("EGFR", 80, EGFR_UNIT, days_ago=7)
)
V06 = (
    a_patient(70)
    .lab("CA", 10.1, "mg/dL", days_ago=3)
    .lab("ALB", 2.9, "g/dL", days_ago=3)
    .lab("PTH", 8, "pg/mL", days_ago=3)
)
V14 = (
    a_patient(66)
    .lab("CA", 10.8, "mg/dL", days_ago=12)
    .lab("ALB", 4, "g/dL", days_ago=12)
    .lab("PTH", 58, "pg/mL", days_ago=12)
    .med("hydrochlorothiazide", since_days=400, dose_mg=25)
)
V15 = (
    a_patient(71, "male")
    .lab("CA", 14.6, "mg/dL", days_ago=1)
    .lab("ALB", 3.6, "g/dL", days_ago=1)
    .lab("PTH", 5, "pg/mL", days_ago=1)
)
V17 = (
    a_patient(60, "male")
    .lab("CA", 10.9, "mg/dL", days_ago=2)
    .lab("ALB", 4, "g/dL", days_ago=2)
    .lab("PTH", 75, "pg/mL", days_ago=2, status="preliminary")
)
V34 = (
    a_patient(50, "male")
    .lab("CA", 10.7, "mg/dL", days_ago=8)
    .lab("ALB", 4.3, "g/dL", days_ago=8)
    .lab("PTH", 71, "pg/mL", days_ago=8)
    .med("lithium carbonate", since_days=3000, dose_mg=900)
)
V35 = (
    a_patient(54)
    .lab("VITD", 180, "ng/mL", days_ago=5)
    .lab("CA", 11.3, "mg/dL", days_ago=5)
    .lab("ALB", 4, "g/dL", days_ago=5)
    .lab("PTH", 9, "pg/mL", days_ago=5)
)
V43 = (
    a_patient(63)
    .lab("CA", 10, "mg/dL", days_ago=10)
    .lab("ALB", 4, "g/dL", days_ago=10)
    .lab("PTH", 95, "pg/mL", days_ago=10)
    .lab("VITD", 35, "ng/mL", days_ago=10)
    .lab("EGFR", 80, EGFR_UNIT, days_ago=10)
    .lab("CA", 10.9, "mg/dL", days_ago=200)
    .lab("ALB", 4, "g/dL", days_ago=200)
)


@pytest.mark.parametrize(
    ("builder", "fires"),
    [
        (V01, True),
        (V02, False),
        (V03, False),
        (V04, False),
        (V05, True),
        (V06, False),
        (V14, False),
        (V15, False),
        (V17, False),
        (V34, False),
        (V35, False),
        (V43, True),
    ],
    ids=["V01", "V02", "V03", "V04", "V05", "V06", "V14", "V15", "V17", "V34", "V35", "V43"],
)
def test_vignettes(builder: PatientBuilder, fires: bool) -> None:
    f = finding(builder)
    assert (f is not None) is fires
    if f is not None:
        assert f.indicator == "warning"


def test_v05_si_units_are_shown_as_reported() -> None:
    f = finding(V05)
    assert f is not None
    assert f.summary.startswith("Calcium 2.79 mmol/L with non-suppressed PTH 9.8 pmol/L")
