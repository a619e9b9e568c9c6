"""B1 `vitd-deficiency`: thresholds, units, bone context, the latest-draw logic and the exclusions."""

from __future__ import annotations

import dataclasses
from functools import partial

import pytest

from rules.params import DEFAULT_PARAMETERS, Parameters
from rules.vitamin_d import vitd_deficiency
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import finding_of

RULE = "vitd-deficiency"
EGFR_UNIT = "mL/min/{1.73_m2}"
LEGACY_ON = dataclasses.replace(DEFAULT_PARAMETERS, accept_vitd_legacy=True)


fired = partial(finding_of, rule=vitd_deficiency.RULE)


def vitd(
    value: float, unit: str = "ng/mL", *, days_ago: float = 10, bone: bool = False, name: str = ""
) -> PatientBuilder:
    p = a_patient(55, "female")
    if bone:
        p.condition("M81.0")
    if not name:
        name = "VITD_MOL" if unit == "nmol/L" else "VITD"
    return p.lab(name, value, unit, days_ago=days_ago)


def graded(p: PatientBuilder, params: Parameters = DEFAULT_PARAMETERS) -> tuple[str, str] | None:
    """(indicator, the threshold text of the summary) or None."""
    finding = fired(p, params)
    if finding is None:
        return None
    threshold = finding.summary.split(" is below ")[1]
    return finding.indicator.value, threshold


@pytest.mark.parametrize(
    ("value", "unit", "bone", "expected"),
    [
        (11.99, "ng/mL", False, ("warning", "12 ng/mL.")),
        (12, "ng/mL", False, ("info", "20 ng/mL.")),
        (19.99, "ng/mL", False, ("info", "20 ng/mL.")),
        (20, "ng/mL", False, None),
        (29.99, "ng/mL", False, None),
        (11.99, "ng/mL", True, ("warning", "12 ng/mL.")),
        (19.99, "ng/mL", True, ("info", "20 ng/mL.")),
        (20, "ng/mL", True, ("info", "30 ng/mL (bone-disease target).")),
        (29.99, "ng/mL", True, ("info", "30 ng/mL (bone-disease target).")),
        (30, "ng/mL", True, None),
        (29.9, "nmol/L", False, ("warning", "12 ng/mL.")),  # 11.98 ng/mL
        (30, "nmol/L", False, ("info", "20 ng/mL.")),  # 12.02 ng/mL
        (49.9, "nmol/L", False, ("info", "20 ng/mL.")),  # 19.99 ng/mL
        (50, "nmol/L", False, None),  # 20.03 ng/mL
        (74.8, "nmol/L", True, ("info", "30 ng/mL (bone-disease target).")),  # 29.96 ng/mL
        (75, "nmol/L", True, None),  # 30.05 ng/mL
        (11.99, "ug/L", False, ("warning", "12 ng/mL.")),
    ],
)
def test_thresholds_12_20_and_30_with_bone_context(
    value: float, unit: str, bone: bool, expected: tuple[str, str] | None
) -> None:
    assert graded(vitd(value, unit, bone=bone)) == expected


@pytest.mark.parametrize(
    ("builder_step", "expected"),
    [
        ("osteopenia-t-score", "info"),
        ("ckd-g3a", "info"),
        ("malabsorption", "info"),
        ("hypopara", "info"),
        ("bisphosphonate", "info"),
        ("none", None),
    ],
)
def test_bone_context_sources_lower_the_threshold_to_30(builder_step: str, expected: str | None) -> None:
    p = vitd(25)
    match builder_step:
        case "osteopenia-t-score":
            p.dxa("T", "LS", -1.5, days_ago=100)
        case "ckd-g3a":
            p.condition("N18.31")
        case "malabsorption":
            p.condition("K90.0", active=False)
        case "hypopara":
            p.condition("E20.9")
        case "bisphosphonate":
            p.med("alendronate", since_days=100)
    finding = fired(p)
    assert (None if finding is None else finding.indicator.value) == expected


def test_value_is_shown_in_the_reported_unit_with_its_date() -> None:
    finding = fired(vitd(40, "nmol/L", days_ago=10))
    assert finding is not None
    assert finding.summary == "25-OH vitamin D 40 nmol/L on 2026-01-05 is below 20 ng/mL."
    assert "16.02" in finding.detail  # normalised value shown in the detail


@pytest.mark.parametrize(("days_ago", "fires"), [(365, True), (366, False)])
def test_only_results_within_365_days_count(days_ago: int, fires: bool) -> None:
    assert (fired(vitd(15, days_ago=days_ago)) is not None) is fires


def test_missing_vitamin_d_gives_no_card() -> None:
    assert fired(a_patient(55, "female").lab("CA", 9.4, "mg/dL", days_ago=5)) is None


# ---- the latest draw decides (10.1 #7) ---------------------------------------------------


def test_an_older_low_total_never_beats_a_newer_d3() -> None:
    p = vitd(8, days_ago=100).lab("VITD3", 25, "ng/mL", days_ago=10)
    assert fired(p) is None


def test_a_newer_d3_low_result_decides_over_an_older_normal_total() -> None:
    p = vitd(40, days_ago=100).lab("VITD3", 15, "ng/mL", days_ago=10)
    finding = fired(p)
    assert finding is not None
    assert "15 ng/mL" in finding.summary


def test_within_one_draw_the_total_is_preferred_over_d3() -> None:
    p = vitd(25, days_ago=10).lab("VITD3", 8, "ng/mL", days_ago=10)
    assert fired(p) is None


@pytest.mark.parametrize(("d2", "expected"), [(3, "18 ng/mL"), (8, None)])
def test_d3_and_d2_of_the_same_draw_are_summed(d2: float, expected: str | None) -> None:
    p = a_patient(55, "female").lab("VITD3", 15, "ng/mL", days_ago=10)
    p.lab("VITD2", d2, "ng/mL", days_ago=10)
    finding = fired(p)
    if expected is None:
        assert finding is None
    else:
        assert finding is not None
        assert f"vitamin D {expected} on" in finding.summary


def test_d2_from_another_draw_is_not_added() -> None:
    p = a_patient(55, "female").lab("VITD3", 15, "ng/mL", days_ago=10)
    p.lab("VITD2", 8, "ng/mL", days_ago=20)
    finding = fired(p)
    assert finding is not None
    assert "15 ng/mL" in finding.summary


def test_d2_of_the_same_report_counts_as_the_same_draw() -> None:
    p = a_patient(55, "female").lab("VITD3", 15, "ng/mL", days_ago=10, report="r1")
    p.lab("VITD2", 8, "ng/mL", days_ago=10, hours_ago=1, report="r1")
    assert fired(p) is None  # 15 + 8 = 23 ng/mL


def test_d3_plus_d2_in_mixed_units_is_shown_in_ng_ml() -> None:
    p = a_patient(55, "female").lab("VITD3_MOL", 30, "nmol/L", days_ago=10)
    p.lab("VITD2", 2, "ng/mL", days_ago=10)
    finding = fired(p)
    assert finding is not None
    assert "14.02 ng/mL" in finding.summary


def test_a_latest_draw_with_only_d2_gives_no_interpretable_value() -> None:
    p = vitd(8, days_ago=100).lab("VITD2", 3, "ng/mL", days_ago=10)
    assert fired(p) is None


@pytest.mark.parametrize(("params", "fires"), [(DEFAULT_PARAMETERS, False), (LEGACY_ON, True)])
def test_legacy_vitamin_d_counts_only_when_the_site_accepts_it(params: Parameters, fires: bool) -> None:
    p = a_patient(55, "female").lab("VITD_LEGACY", 10, "ng/mL", days_ago=10)
    assert (fired(p, params) is not None) is fires


def test_an_unaccepted_legacy_result_does_not_hide_an_older_total() -> None:
    p = vitd(10, days_ago=100).lab("VITD_LEGACY", 40, "ng/mL", days_ago=10)
    finding = fired(p)
    assert finding is not None
    assert "10 ng/mL" in finding.summary


def test_the_total_beats_an_accepted_legacy_result_of_the_same_draw() -> None:
    p = vitd(25, days_ago=10).lab("VITD_LEGACY", 10, "ng/mL", days_ago=10)
    assert fired(p, LEGACY_ON) is None


# ---- exclusions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since_days", "source", "fires"),
    [
        (5, "request", False),  # repletion ordered after the result
        (10 - 1 / 24, "request", False),  # one hour after the result
        (10 + 1 / 24, "request", True),  # one hour before: deficient despite treatment
        (200, "request", True),
        (5, "statement", False),
    ],
)
def test_vitamin_d_started_after_the_result_means_repletion_has_begun(
    since_days: float, source: str, fires: bool
) -> None:
    p = vitd(10, days_ago=10).med("cholecalciferol", since_days=since_days, source=source)
    assert (fired(p) is not None) is fires


@pytest.mark.parametrize(
    ("labs", "ergo_status", "fires"),
    [
        (("VITD3",), "active", False),  # D3 only while on D2: D2 not measured, no card
        (("VITD3", "VITD2"), "active", True),
        (("VITD",), "active", True),
        (("VITD3",), "completed", True),  # ergocalciferol no longer current
    ],
)
def test_d3_only_result_while_ergocalciferol_is_current_gives_no_card(
    labs: tuple[str, ...], ergo_status: str, fires: bool
) -> None:
    p = a_patient(55, "female").med(
        "ergocalciferol",
        since_days=300,
        status=ergo_status,
        ended_days_ago=None if ergo_status == "active" else 100,
    )
    for name in labs:
        p.lab(name, 1 if name == "VITD2" else 10, "ng/mL", days_ago=10)
    assert (fired(p) is not None) is fires


def test_never_recommends_screening() -> None:
    for p in (vitd(8), vitd(25, bone=True)):
        finding = fired(p)
        assert finding is not None
        text = " ".join([finding.summary, finding.detail, *(s.label for s in finding.suggestions)]).lower()
        assert "screen" not in text


@pytest.mark.parametrize(("bone", "suggests_recheck"), [(True, True), (False, False)])
def test_recheck_after_3_months_is_suggested_in_bone_disease_only(bone: bool, suggests_recheck: bool) -> None:
    finding = fired(vitd(15, bone=bone))
    assert finding is not None
    assert any(s.code == "62292-8" for s in finding.suggestions) is suggests_recheck


# ---- vignettes -----------------------------------------------------------------------------


def test_v36_d3_in_nmol_per_litre_and_calcitriol_ignored() -> None:
    p = (
        a_patient(50, "female")
        .lab("VITD3_MOL", 40, "nmol/L", days_ago=10)
        .lab("CALCITRIOL", 20, "pg/mL", days_ago=10)
    )
    assert graded(p) == ("info", "20 ng/mL.")


def test_v11_severe_deficiency_warns() -> None:
    p = a_patient(59, "female").lab("VITD", 11, "ng/mL", days_ago=15)
    p.lab("PTH", 88, "pg/mL", days_ago=15).lab("CA", 9.3, "mg/dL", days_ago=15)
    assert graded(p) == ("warning", "12 ng/mL.")


def test_v13_ckd_g3b_uses_the_bone_disease_target() -> None:
    p = (
        a_patient(74, "male")
        .lab("EGFR", 38, EGFR_UNIT, days_ago=20)
        .lab("VITD", 26, "ng/mL", days_ago=20)
        .lab("EGFR", 41, EGFR_UNIT, days_ago=200)
        .dxa("T", "LS", -1.6, days_ago=400)
    )
    assert graded(p) == ("info", "30 ng/mL (bone-disease target).")


def test_v33_bariatric_surgery_vitamin_d_17() -> None:
    p = a_patient(44, "female").lab("VITD", 17, "ng/mL", days_ago=30).condition("Z98.84")
    assert graded(p) == ("info", "20 ng/mL.")


@pytest.mark.parametrize(
    "p",
    [
        # V05: 70 nmol/L = 28.0 ng/mL without bone context
        a_patient(60, "female").lab("VITD_MOL", 70, "nmol/L", days_ago=7),
        # V01: 32 ng/mL (osteopenic T-scores: bone context, still above 30)
        a_patient(62, "female").lab("VITD", 32, "ng/mL", days_ago=10).dxa("T", "RAD", -2.1, days_ago=200),
        # V12: 38 ng/mL
        a_patient(61, "female").lab("VITD", 38, "ng/mL", days_ago=10),
    ],
    ids=["V05", "V01", "V12"],
)
def test_vignette_negatives(p: PatientBuilder) -> None:
    assert fired(p) is None


def test_runs_on_background_notifications() -> None:
    assert fired(vitd(8), hook="background") is not None
