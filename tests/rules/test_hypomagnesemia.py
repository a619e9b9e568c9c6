"""A11 `hypomagnesemia`: the LLN, the critical threshold and its 7-day window, units, PPI and Ca notes."""

from __future__ import annotations

from functools import partial

import pytest

from rules.calcium import hypomagnesemia
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import finding_of

RULE = "hypomagnesemia"


fired = partial(finding_of, rule=hypomagnesemia.RULE)


def mg(
    value: float,
    unit: str = "mg/dL",
    *,
    days_ago: float = 2,
    ref: tuple[float | None, float | None] | None = None,
) -> PatientBuilder:
    name = "MG_MOL" if unit == "mmol/L" else "MG"
    return a_patient(68, "male").lab(name, value, unit, days_ago=days_ago, ref=ref)


def indicator(p: PatientBuilder) -> str | None:
    finding = fired(p)
    return None if finding is None else finding.indicator.value


def test_v10_ppi_associated_severe_hypomagnesaemia_with_low_calcium() -> None:
    p = (
        a_patient(68, "male")
        .lab("CA", 7.9, "mg/dL", days_ago=2)
        .lab("ALB", 3.9, "g/dL", days_ago=2)
        .lab("PTH", 12, "pg/mL", days_ago=2)
        .lab("MG", 0.9, "mg/dL", days_ago=2)
        .med("omeprazole", since_days=800, dose_mg=40)
    )
    finding = fired(p)
    assert finding is not None
    assert finding.indicator == "critical"
    assert finding.summary.startswith("Low magnesium 0.9 mg/dL on 2026-01-13, on a PPI;")
    assert "PPI-associated hypomagnesaemia is recognised" in finding.detail
    assert "correct Mg before diagnosing hypoparathyroidism" in finding.detail
    assert len(finding.summary) < 140


def test_v09_normal_magnesium_gives_no_card() -> None:
    assert fired(mg(1.9, days_ago=3)) is None


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.7, "mg/dL", None),
        (1.69, "mg/dL", "warning"),
        (1.2, "mg/dL", "warning"),
        (1.19, "mg/dL", "critical"),
        (0.70, "mmol/L", None),  # 1.70 mg/dL
        (0.69, "mmol/L", "warning"),  # 1.68 mg/dL
        (0.5, "mmol/L", "warning"),  # 1.22 mg/dL
        (0.49, "mmol/L", "critical"),  # 1.19 mg/dL
        (1.38, "meq/L", "warning"),  # 1.68 mg/dL
    ],
)
def test_thresholds_at_the_lln_and_at_the_critical_limit(
    value: float, unit: str, expected: str | None
) -> None:
    assert indicator(mg(value, unit)) == expected


def test_value_is_shown_in_the_reported_unit() -> None:
    finding = fired(mg(0.6, "mmol/L"))
    assert finding is not None
    assert "Low magnesium 0.6 mmol/L" in finding.summary


@pytest.mark.parametrize(("days_ago", "expected"), [(7, "critical"), (8, "warning")])
def test_critical_needs_the_result_within_7_days(days_ago: int, expected: str) -> None:
    assert indicator(mg(1.0, days_ago=days_ago)) == expected


@pytest.mark.parametrize(("days_ago", "expected"), [(30, "warning"), (31, None)])
def test_only_magnesium_within_30_days_counts(days_ago: int, expected: str | None) -> None:
    assert indicator(mg(1.5, days_ago=days_ago)) == expected


def test_missing_magnesium_gives_no_card() -> None:
    assert fired(a_patient(68, "male").lab("CA", 7.9, "mg/dL", days_ago=2)) is None


def test_the_latest_magnesium_decides() -> None:
    assert fired(mg(1.1, days_ago=10).lab("MG", 1.9, "mg/dL", days_ago=1)) is None


@pytest.mark.parametrize(
    ("ref", "value", "expected"),
    [
        ((1.8, 2.6), 1.75, "warning"),  # the lab's LLN 1.8 (inside the 1.4-2.0 sanity band)
        ((1.5, 2.6), 1.6, None),  # the lab's LLN 1.5 applies
        ((1.3, 2.6), 1.6, "warning"),  # LLN 1.3 is outside the sanity band: default 1.7 applies
    ],
)
def test_the_labs_own_lln_applies_within_the_sanity_band(
    ref: tuple[float, float], value: float, expected: str | None
) -> None:
    assert indicator(mg(value, ref=ref)) == expected


@pytest.mark.parametrize(
    ("status", "ended_days_ago", "noted"),
    [("active", None, True), ("completed", 10, False)],
)
def test_ppi_note_only_when_a_ppi_is_current(status: str, ended_days_ago: int | None, noted: bool) -> None:
    p = mg(1.5).med("omeprazole", since_days=300, status=status, ended_days_ago=ended_days_ago)
    finding = fired(p)
    assert finding is not None
    assert (", on a PPI" in finding.summary) is noted
    assert ("PPI-associated" in finding.detail) is noted


def test_no_ppi_no_ppi_note() -> None:
    finding = fired(mg(1.5))
    assert finding is not None
    assert "PPI" not in finding.summary
    assert "PPI-associated" not in finding.detail


def test_calcium_note_only_when_calcium_is_low() -> None:
    normal = fired(mg(1.5).lab("CA", 9.4, "mg/dL", days_ago=2).lab("ALB", 4.0, "g/dL", days_ago=2))
    low = fired(mg(1.5).lab("ICA", 0.98, "mmol/L", days_ago=2))
    assert normal is not None
    assert low is not None
    assert "diagnosing hypoparathyroidism" not in normal.detail
    assert "diagnosing hypoparathyroidism" in low.detail


def test_suggests_repeat_magnesium_calcium_and_pth() -> None:
    finding = fired(mg(1.5))
    assert finding is not None
    assert {"19123-9", "17861-6", "2731-8"} <= {s.code for s in finding.suggestions}


def test_runs_on_background_notifications() -> None:
    assert fired(mg(1.5), hook="background") is not None
