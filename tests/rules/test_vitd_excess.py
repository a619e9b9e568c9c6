"""B2 `vitd-excess`: the 100 and 150 ng/mL edges, nmol/L, high calcium and the latest draw."""

from __future__ import annotations

from functools import partial

import pytest

from rules.vitamin_d import vitd_excess
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import finding_of

RULE = "vitd-excess"


fired = partial(finding_of, rule=vitd_excess.RULE)


def vitd(value: float, unit: str = "ng/mL", *, days_ago: float = 5) -> PatientBuilder:
    name = "VITD_MOL" if unit == "nmol/L" else "VITD"
    return a_patient(54, "female").lab(name, value, unit, days_ago=days_ago)


def indicator(p: PatientBuilder) -> str | None:
    finding = fired(p)
    return None if finding is None else finding.indicator.value


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (100, "ng/mL", None),
        (100.01, "ng/mL", "info"),
        (150, "ng/mL", "info"),
        (150.01, "ng/mL", "warning"),
        (249, "nmol/L", None),  # 99.75 ng/mL
        (250, "nmol/L", "info"),  # 100.15 ng/mL
        (374, "nmol/L", "info"),  # 149.82 ng/mL
        (375, "nmol/L", "warning"),  # 150.23 ng/mL
    ],
)
def test_above_100_info_and_above_150_warning(value: float, unit: str, expected: str | None) -> None:
    assert indicator(vitd(value, unit)) == expected


def test_value_is_shown_in_the_reported_unit() -> None:
    finding = fired(vitd(300, "nmol/L"))
    assert finding is not None
    assert finding.summary.startswith("25-OH vitamin D 300 nmol/L is above 100 ng/mL;")


@pytest.mark.parametrize(
    ("ca", "expected", "note"),
    [(10.9, "warning", True), (9.5, "info", False)],
)
def test_high_calcium_raises_the_indicator_and_adds_the_calcium_note(
    ca: float, expected: str, note: bool
) -> None:
    p = vitd(120).lab("CA", ca, "mg/dL", days_ago=5).lab("ALB", 4.0, "g/dL", days_ago=5)
    finding = fired(p)
    assert finding is not None
    assert finding.indicator == expected
    assert finding.summary.endswith(
        "review vitamin D intake and calcium is high." if note else "review vitamin D intake."
    )


def test_v35_vitamin_d_intoxication_with_hypercalcaemia() -> None:
    p = (
        a_patient(54, "female")
        .lab("VITD", 180, "ng/mL", days_ago=5)
        .lab("CA", 11.3, "mg/dL", days_ago=5)
        .lab("ALB", 4, "g/dL", days_ago=5)
        .lab("PTH", 9, "pg/mL", days_ago=5)
        .med("cholecalciferol", since_days=200)
    )
    finding = fired(p)
    assert finding is not None
    assert finding.indicator == "warning"
    assert "180 ng/mL" in finding.summary
    assert "calcium is high" in finding.summary
    assert len(finding.summary) < 140


@pytest.mark.parametrize(("days_ago", "fires"), [(365, True), (366, False)])
def test_only_results_within_365_days_count(days_ago: int, fires: bool) -> None:
    assert (fired(vitd(120, days_ago=days_ago)) is not None) is fires


def test_the_latest_draw_decides() -> None:
    assert fired(vitd(180, days_ago=100).lab("VITD3", 40, "ng/mL", days_ago=10)) is None


def test_a_d3_only_value_above_100_counts_even_on_ergocalciferol() -> None:
    p = a_patient(54, "female").lab("VITD3", 120, "ng/mL", days_ago=5)
    p.med("ergocalciferol", since_days=300)
    assert indicator(p) == "info"


def test_v36_calcitriol_is_never_read_as_25oh_d() -> None:
    p = (
        a_patient(50, "female")
        .lab("VITD3_MOL", 40, "nmol/L", days_ago=10)
        .lab("CALCITRIOL", 200, "pg/mL", days_ago=1)
    )
    assert fired(p) is None


def test_missing_vitamin_d_gives_no_card() -> None:
    assert fired(a_patient(54, "female")) is None


def test_runs_on_background_notifications() -> None:
    assert fired(vitd(120), hook="background") is not None
