"""A2 `hypercalcemia-severe`: the 14 mg/dL / 1.75 mmol/L edges, the 7-day window, units, vignettes."""

from __future__ import annotations

import pytest

from rules.calcium.hypercalcemia_severe import RULE
from rules.engine import evaluate
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS, Parameters
from tests.builders import PatientBuilder, a_patient


def finding(
    builder: PatientBuilder, hook: str = "patient-view", params: Parameters = DEFAULT_PARAMETERS
) -> Finding | None:
    result = evaluate(builder.snapshot(hook), params, rules=[RULE])
    assert result.failures == ()
    return result.findings[0] if result.findings else None


@pytest.mark.parametrize(
    ("name", "value", "unit", "fires"),
    [
        ("CA", 13.99, "mg/dL", False),
        ("CA", 14.0, "mg/dL", True),
        ("CA_MOL", 3.49, "mmol/L", False),  # 13.99 mg/dL
        ("CA_MOL", 3.50, "mmol/L", True),  # 14.03 mg/dL
        ("CA_LABCORR", 13.99, "mg/dL", False),
        ("CA_LABCORR", 14.0, "mg/dL", True),
        ("ICA", 1.74, "mmol/L", False),
        ("ICA", 1.75, "mmol/L", True),
        ("ICA", 7.0, "mg/dL", False),  # 1.7465 mmol/L
        ("ICA", 7.02, "mg/dL", True),  # 1.7515 mmol/L
    ],
)
def test_fires_at_or_above_the_severe_threshold_in_every_unit(
    name: str, value: float, unit: str, fires: bool
) -> None:
    f = finding(a_patient(70, "male").lab(name, value, unit, days_ago=1))
    assert (f is not None) is fires
    if f is not None:
        assert f.indicator == "critical"


@pytest.mark.parametrize(("albumin", "fires"), [(3.1, False), (3.0, True)])
def test_the_albumin_corrected_value_is_compared(albumin: float, fires: bool) -> None:
    # 13.2 + 0.8 × (4.0 − 3.0) = 14.0 exactly; with albumin 3.1 it is 13.92.
    p = a_patient(70).lab("CA", 13.2, "mg/dL", days_ago=1).lab("ALB", albumin, "g/dL", days_ago=1)
    assert (finding(p) is not None) is fires


def test_an_uncorrected_total_calcium_counts_and_asks_for_albumin() -> None:
    f = finding(a_patient(70).lab("CA", 14.2, "mg/dL", days_ago=2))
    assert f is not None
    assert f.data["kind"] == "uncorrected"
    assert {"1751-7", "1994-3"} <= {s.code for s in f.suggestions}


@pytest.mark.parametrize(
    ("days_ago", "hours_ago", "fires"),
    [(0, 1, True), (7, 0, True), (7, 1, False), (8, 0, False), (60, 0, False)],
)
def test_the_index_calcium_must_be_at_most_seven_days_old(
    days_ago: float, hours_ago: float, fires: bool
) -> None:
    p = a_patient(70).lab("CA", 14.5, "mg/dL", days_ago=days_ago, hours_ago=hours_ago)
    assert (finding(p) is not None) is fires


def test_a_normal_ionized_calcium_in_the_same_draw_decides() -> None:
    p = a_patient(70).lab("CA", 14.5, "mg/dL", days_ago=1).lab("ICA", 1.30, "mmol/L", days_ago=1)
    assert finding(p) is None


def test_a_high_but_not_severe_ionized_calcium_decides_over_a_severe_total() -> None:
    p = a_patient(70).lab("CA", 14.5, "mg/dL", days_ago=1).lab("ICA", 1.60, "mmol/L", days_ago=1)
    assert finding(p) is None


def test_no_calcium_means_no_card() -> None:
    assert finding(a_patient(70).lab("PTH", 5, "pg/mL", days_ago=1)) is None


def test_fires_without_pth_and_then_suggests_pth() -> None:
    f = finding(a_patient(70).lab("CA", 14.5, "mg/dL", days_ago=1).lab("ALB", 4.0, "g/dL", days_ago=1))
    assert f is not None
    assert "2731-8" in {s.code for s in f.suggestions}
    assert {"Order PTHrP", "Order 1,25-dihydroxyvitamin D"} <= {s.label for s in f.suggestions}


def test_a_paired_pth_is_shown_and_not_reordered() -> None:
    p = (
        a_patient(70)
        .lab("CA", 14.5, "mg/dL", days_ago=1)
        .lab("ALB", 4.0, "g/dL", days_ago=1)
        .lab("PTH", 5, "pg/mL", days_ago=2)
    )
    f = finding(p)
    assert f is not None
    assert "2731-8" not in {s.code for s in f.suggestions}
    assert any(e.label == "Intact PTH" for e in f.evidence)


def test_summary_follows_the_template_with_value_unit_and_date() -> None:
    f = finding(a_patient(70).lab("CA_MOL", 3.6, "mmol/L", days_ago=1).lab("ALB", 40, "g/L", days_ago=1))
    assert f is not None
    assert f.summary.startswith("Severe hypercalcemia: calcium 3.6 mmol/L on 2026-01-14.")
    assert f.summary.endswith("Assess today.")
    assert len(f.summary) < 140


def test_current_calcium_raising_drugs_are_named_in_the_detail() -> None:
    p = (
        a_patient(70)
        .lab("CA", 14.5, "mg/dL", days_ago=1)
        .med("hydrochlorothiazide", since_days=100)
        .med("cholecalciferol", since_days=100)
    )
    f = finding(p)
    assert f is not None
    assert "hydrochlorothiazide" in f.detail
    assert "cholecalciferol" in f.detail


def test_the_threshold_is_a_parameter() -> None:
    p = a_patient(70).lab("CA", 13.5, "mg/dL", days_ago=1)
    assert finding(p) is None
    assert finding(p, params=DEFAULT_PARAMETERS.with_overrides({"CA_SEVERE_HIGH": 13.5})) is not None


@pytest.mark.parametrize(("hook", "fires"), [("background", True), ("batch", False), ("order-sign", False)])
def test_runs_on_patient_view_and_background_only(hook: str, fires: bool) -> None:
    p = a_patient(70).lab("CA", 14.5, "mg/dL", days_ago=1)
    assert (finding(p, hook) is not None) is fires


def test_v15_severe_hypercalcemia_with_suppressed_pth_is_critical() -> None:
    p = (
        a_patient(71, "male")
        .lab("CA", 14.6, "mg/dL", days_ago=1)
        .lab("ALB", 3.6, "g/dL", days_ago=1)
        .lab("PTH", 5, "pg/mL", days_ago=1)
    )
    f = finding(p)
    assert f is not None
    assert f.indicator == "critical"
    assert "14.92 mg/dL" in f.summary


@pytest.mark.parametrize(
    "builder",
    [
        # V04: Ca 10.9, Alb 4.2, no PTH.
        a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5).lab("ALB", 4.2, "g/dL", days_ago=5),
        # V35: vitamin D intoxication, Ca 11.3 is not severe.
        a_patient(54)
        .lab("VITD", 180, "ng/mL", days_ago=5)
        .lab("CA", 11.3, "mg/dL", days_ago=5)
        .lab("ALB", 4, "g/dL", days_ago=5)
        .lab("PTH", 9, "pg/mL", days_ago=5)
        .med("cholecalciferol", since_days=200),
        # V01: classic PHPT, Ca 11.2.
        a_patient(62)
        .lab("CA", 11.2, "mg/dL", days_ago=10)
        .lab("ALB", 4.1, "g/dL", days_ago=10)
        .lab("PTH", 98, "pg/mL", days_ago=10),
    ],
    ids=["V04", "V35", "V01"],
)
def test_vignettes_with_mild_hypercalcemia_get_no_severe_card(builder: PatientBuilder) -> None:
    assert finding(builder) is None
