"""A9 `hypocalcemia`: the indicator by kind, severity and recency; ionized precedence; missing data."""

from __future__ import annotations

import pytest

from rules.calcium.hypocalcemia import RULE
from rules.engine import evaluate
from rules.findings import Finding
from tests.builders import PatientBuilder, a_patient

EGFR_UNIT = "mL/min/{1.73_m2}"


def finding(builder: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    result = evaluate(builder.snapshot(hook), rules=[RULE])
    assert result.failures == ()
    return result.findings[0] if result.findings else None


def indicator(builder: PatientBuilder) -> str | None:
    f = finding(builder)
    return None if f is None else f.indicator.value


def corrected(ca: float, *, days_ago: float = 2, albumin: float = 4.0) -> PatientBuilder:
    return (
        a_patient(60).lab("CA", ca, "mg/dL", days_ago=days_ago).lab("ALB", albumin, "g/dL", days_ago=days_ago)
    )


@pytest.mark.parametrize(("ca", "expected"), [(8.6, None), (8.59, "warning")])
def test_fires_only_below_the_lower_reference_limit(ca: float, expected: str | None) -> None:
    assert indicator(corrected(ca)) == expected


@pytest.mark.parametrize(("ca", "expected"), [(7.6, "warning"), (7.59, "critical")])
def test_corrected_calcium_below_7_6_is_critical(ca: float, expected: str) -> None:
    assert indicator(corrected(ca)) == expected


@pytest.mark.parametrize(("ca", "expected"), [(1.90, "warning"), (1.89, "critical")])  # 7.62 / 7.58 mg/dL
def test_severe_threshold_in_mmol_per_litre(ca: float, expected: str) -> None:
    p = a_patient(60).lab("CA_MOL", ca, "mmol/L", days_ago=2).lab("ALB", 40, "g/L", days_ago=2)
    assert indicator(p) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.12, "mmol/L", None),
        (1.11, "mmol/L", "warning"),
        (1.00, "mmol/L", "warning"),
        (0.99, "mmol/L", "critical"),
        (4.01, "mg/dL", "warning"),  # 1.0005 mmol/L
        (3.99, "mg/dL", "critical"),  # 0.9955 mmol/L
    ],
)
def test_ionized_calcium_below_1_00_mmol_l_is_critical(value: float, unit: str, expected: str | None) -> None:
    assert indicator(a_patient(60).lab("ICA", value, unit, days_ago=1)) == expected


@pytest.mark.parametrize(("ca", "expected"), [(7.6, "warning"), (7.5, "critical")])
def test_lab_corrected_calcium_is_graded_like_corrected(ca: float, expected: str) -> None:
    assert indicator(a_patient(60).lab("CA_LABCORR", ca, "mg/dL", days_ago=1)) == expected


@pytest.mark.parametrize(
    ("days_ago", "hours_ago", "expected"),
    [(7, 0, "critical"), (7, 1, "warning"), (8, 0, "warning"), (80, 0, "warning")],
)
def test_critical_needs_an_index_calcium_at_most_7_days_old(
    days_ago: float, hours_ago: float, expected: str
) -> None:
    p = a_patient(60).lab("CA", 7.0, "mg/dL", days_ago=days_ago, hours_ago=hours_ago)
    p = p.lab("ALB", 4.0, "g/dL", days_ago=days_ago, hours_ago=hours_ago)
    assert indicator(p) == expected


@pytest.mark.parametrize(
    ("ca", "days_ago", "expected"),
    [(8.59, 1, "info"), (7.6, 1, "info"), (7.59, 1, "warning"), (6.0, 1, "warning"), (6.0, 30, "warning")],
)
def test_uncorrected_calcium_is_never_critical(ca: float, days_ago: float, expected: str) -> None:
    assert indicator(a_patient(60).lab("CA", ca, "mg/dL", days_ago=days_ago)) == expected


def test_uncorrected_calcium_asks_for_albumin_or_ionized_calcium() -> None:
    f = finding(a_patient(45).lab("CA", 7.8, "mg/dL", days_ago=1))
    assert f is not None
    assert "(uncorrected)" in f.summary
    assert {"1751-7", "1994-3"} <= {s.code for s in f.suggestions}


def test_a_low_total_calcium_with_normal_corrected_value_is_not_low() -> None:
    assert finding(corrected(7.9, albumin=2.5)) is None  # V07: corrected 9.1


def test_a_low_ionized_calcium_decides_over_a_normal_corrected_value() -> None:
    # V37: iCa 0.92 with total 7.9 and albumin 2.4 (corrected 9.18).
    p = (
        a_patient(64, "male")
        .lab("ICA", 0.92, "mmol/L", hours_ago=12)
        .lab("CA", 7.9, "mg/dL", hours_ago=12)
        .lab("ALB", 2.4, "g/dL", hours_ago=12)
    )
    f = finding(p)
    assert f is not None
    assert f.indicator == "critical"
    assert "0.92 mmol/L (ionized)" in f.summary


def test_an_ionized_calcium_up_to_24_hours_before_the_total_still_decides() -> None:
    p = a_patient(60).lab("ICA", 0.95, "mmol/L", hours_ago=30).lab("CA", 9.0, "mg/dL", hours_ago=8)
    assert indicator(p) == "critical"


def test_a_normal_ionized_calcium_decides_over_a_low_uncorrected_total() -> None:
    p = a_patient(60).lab("ICA", 1.20, "mmol/L", hours_ago=5).lab("CA", 7.5, "mg/dL", hours_ago=5)
    assert finding(p) is None


def test_an_ionized_calcium_more_than_24_hours_before_the_total_does_not_decide() -> None:
    p = a_patient(60).lab("ICA", 0.95, "mmol/L", hours_ago=40).lab("CA", 7.8, "mg/dL", hours_ago=8)
    f = finding(p)
    assert f is not None
    assert f.data["kind"] == "uncorrected"
    assert "ionized calcium" in f.detail  # the older ionized result is pointed out


def test_summary_follows_the_template() -> None:
    f = finding(corrected(7.4, days_ago=3))
    assert f is not None
    assert f.summary == (
        "Low calcium 7.4 mg/dL (corrected) on 2026-01-12; check PTH, magnesium, phosphate and 25-OH D."
    )
    assert "ECG" in f.detail


@pytest.mark.parametrize(("pth_days_away", "suggested"), [(14, False), (15, True)])
def test_pth_is_suggested_when_none_lies_within_14_days(pth_days_away: float, suggested: bool) -> None:
    p = corrected(8.0, days_ago=20).lab("PTH", 40, "pg/mL", days_ago=20 + pth_days_away)
    f = finding(p)
    assert f is not None
    assert ("2731-8" in {s.code for s in f.suggestions}) is suggested


@pytest.mark.parametrize(("mg_days_before", "suggested"), [(None, True), (30, False), (31, True)])
def test_magnesium_is_suggested_when_none_since_30_days_before_the_calcium(
    mg_days_before: float | None, suggested: bool
) -> None:
    p = corrected(8.0, days_ago=10)
    if mg_days_before is not None:
        p = p.lab("MG", 2.0, "mg/dL", days_ago=10 + mg_days_before)
    f = finding(p)
    assert f is not None
    assert ("19123-9" in {s.code for s in f.suggestions}) is suggested


def test_complete_labs_leave_only_phosphate_to_suggest() -> None:
    p = (
        corrected(8.0)
        .lab("PTH", 40, "pg/mL", days_ago=2)
        .lab("MG", 2.0, "mg/dL", days_ago=2)
        .lab("VITD", 30, "ng/mL", days_ago=2)
        .lab("EGFR", 80, EGFR_UNIT, days_ago=2)
    )
    f = finding(p)
    assert f is not None
    assert [s.code for s in f.suggestions] == ["2777-1"]


def test_missing_vitamin_d_and_egfr_are_suggested() -> None:
    f = finding(corrected(8.0))
    assert f is not None
    assert {"62292-8", "2160-0", "2777-1"} <= {s.code for s in f.suggestions}


@pytest.mark.parametrize(
    ("builder", "reason"),
    [
        (corrected(6.0, albumin=2.5), "Albumin 2.5 g/dL"),  # corrected 7.2
        (corrected(8.0).lab("EGFR", 25, EGFR_UNIT, days_ago=2), "eGFR 25"),
    ],
)
def test_unreliable_correction_asks_for_ionized_calcium(builder: PatientBuilder, reason: str) -> None:
    f = finding(builder)
    assert f is not None
    assert "1994-3" in {s.code for s in f.suggestions}
    assert reason in f.detail


@pytest.mark.parametrize(("hook", "fires"), [("background", True), ("order-sign", False), ("batch", False)])
def test_runs_on_patient_view_and_background_only(hook: str, fires: bool) -> None:
    assert (finding(corrected(8.0), hook) is not None) is fires


def test_no_calcium_means_no_card() -> None:
    assert finding(a_patient(60).lab("PTH", 5, "pg/mL", days_ago=2)) is None


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (a_patient(45).lab("CA", 7.8, "mg/dL", days_ago=1), "info"),  # V08
        (
            a_patient(52)  # V09: post-thyroidectomy, corrected 7.4
            .lab("CA", 7.4, "mg/dL", days_ago=3)
            .lab("ALB", 4, "g/dL", days_ago=3)
            .lab("PTH", 6, "pg/mL", days_ago=3)
            .lab("MG", 1.9, "mg/dL", days_ago=3)
            .lab("PO4", 5.1, "mg/dL", days_ago=3)
            .med("levothyroxine", since_days=40)
            .condition("E89.0"),
            "critical",
        ),
        (
            a_patient(68, "male")  # V10: corrected 7.98 with low Mg
            .lab("CA", 7.9, "mg/dL", days_ago=2)
            .lab("ALB", 3.9, "g/dL", days_ago=2)
            .lab("PTH", 12, "pg/mL", days_ago=2)
            .lab("MG", 0.9, "mg/dL", days_ago=2)
            .med("omeprazole", since_days=800, dose_mg=40),
            "warning",
        ),
        (
            a_patient(64, "male")  # V37
            .lab("ICA", 0.92, "mmol/L", hours_ago=12)
            .lab("CA", 7.9, "mg/dL", hours_ago=12)
            .lab("ALB", 2.4, "g/dL", hours_ago=12),
            "critical",
        ),
        (
            a_patient(72, "male").lab("CA", 7.9, "mg/dL", days_ago=2).lab("ALB", 2.5, "g/dL", days_ago=2),
            None,
        ),  # V07
    ],
    ids=["V08", "V09", "V10", "V37", "V07"],
)
def test_vignettes(builder: PatientBuilder, expected: str | None) -> None:
    assert indicator(builder) == expected


def test_v23_is_an_order_sign_invocation_where_hypocalcemia_does_not_run() -> None:
    p = (
        a_patient(78)
        .lab("CA", 8.1, "mg/dL", days_ago=10)
        .lab("ALB", 3.9, "g/dL", days_ago=10)
        .lab("EGFR", 24, EGFR_UNIT, days_ago=10)
        .lab("VITD", 16, "ng/mL", days_ago=10)
        .med("denosumab", draft=True)
        .condition("M81.0")
    )
    assert finding(p, "order-sign") is None
    assert indicator(p) == "warning"  # the same patient on patient-view: corrected 8.18
