"""Albumin-corrected calcium, albumin pairing and the index calcium (RULES.md 3.2, 3.3, 3.4)."""

from __future__ import annotations

import pytest

from rules.calcium_state import CaKind, CaState, corrected_calcium
from rules.facts import Facts
from rules.params import Parameters
from tests.builders import PatientBuilder, a_patient


def facts_of(builder: PatientBuilder) -> Facts:
    return Facts(builder.snapshot(), Parameters())


@pytest.mark.parametrize(
    ("ca", "alb", "expected"),
    [(10.1, 2.9, 10.98), (7.9, 2.5, 9.1), (11.2, 4.1, 11.12), (9.0, 4.0, 9.0)],
)
def test_payne_correction_applies_in_both_directions(ca: float, alb: float, expected: float) -> None:
    assert corrected_calcium(ca, alb) == pytest.approx(expected)


@pytest.mark.parametrize(("hours", "kind"), [(48, CaKind.CORRECTED), (49, CaKind.UNCORRECTED)])
def test_albumin_pairs_within_48_hours(hours: int, kind: CaKind) -> None:
    p = a_patient().lab("CA", 9.0, "mg/dL", days_ago=1).lab("ALB", 3.0, "g/dL", days_ago=1, hours_ago=hours)
    reading = facts_of(p).calcium
    assert reading is not None and reading.kind is kind


def test_albumin_from_the_same_report_wins_over_a_closer_one() -> None:
    p = (
        a_patient()
        .lab("CA", 9.0, "mg/dL", days_ago=1, report="panel")
        .lab("ALB", 3.0, "g/dL", days_ago=1, hours_ago=30, report="panel")
        .lab("ALB", 4.0, "g/dL", days_ago=1, hours_ago=1)
    )
    reading = facts_of(p).calcium
    assert reading is not None and reading.value == pytest.approx(9.8)


def test_ionized_calcium_within_24_hours_decides_over_a_normal_corrected_value() -> None:
    p = (
        a_patient(64, "male")
        .lab("ICA", 0.92, "mmol/L", hours_ago=12)
        .lab("CA", 7.9, "mg/dL", hours_ago=12)
        .lab("ALB", 2.4, "g/dL", hours_ago=12)
    )
    reading = facts_of(p).calcium
    assert reading is not None
    assert (reading.kind, reading.state) == (CaKind.IONIZED, CaState.LOW)


def test_an_ionized_result_older_than_24_hours_before_the_latest_does_not_decide() -> None:
    p = a_patient().lab("ICA", 0.92, "mmol/L", days_ago=3).lab("CA", 9.4, "mg/dL", days_ago=1)
    reading = facts_of(p).calcium
    assert reading is not None and reading.kind is CaKind.UNCORRECTED


@pytest.mark.parametrize(("days", "known"), [(90, True), (91, False)])
def test_calcium_state_uses_a_90_day_window(days: int, known: bool) -> None:
    p = a_patient().lab("CA", 11.0, "mg/dL", days_ago=days)
    assert (facts_of(p).calcium is not None) is known


@pytest.mark.parametrize(
    ("ref", "state"),
    [
        ((8.5, 10.6), CaState.NORMAL),  # the lab's own range applies
        ((8.5, 12.0), CaState.HIGH),  # ULN outside the sanity band 9.5-11.0: defaults apply
        (None, CaState.HIGH),
    ],
)
def test_lab_ranges_apply_only_inside_the_sanity_band(
    ref: tuple[float, float] | None, state: CaState
) -> None:
    p = a_patient().lab("CA", 10.5, "mg/dL", days_ago=2, ref=ref).lab("ALB", 4, "g/dL", days_ago=2)
    reading = facts_of(p).calcium
    assert reading is not None and reading.state is state


def test_statuses_other_than_final_amended_corrected_never_count() -> None:
    for status in ("preliminary", "entered-in-error", "cancelled", "registered", "unknown"):
        p = a_patient().lab("CA", 11.5, "mg/dL", days_ago=2, status=status)
        assert facts_of(p).calcium is None, status
