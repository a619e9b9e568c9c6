"""The one 25-OH D reading every rule reads (`rules.vitamin_d.latest_draw`): the latest draw decides.

The helper itself (draws, preference within a draw, window, legacy gating), and that the rules which
only ask "is there a 25-OH D?" (A3, A4, A9, C1, C6) agree with the reading: a latest draw holding
only D2 is missing for all of them, even when an older total lies within the window.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rules import evaluate
from rules.facts import Facts
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS, Parameters
from rules.vitamin_d.latest_draw import VitdKind, VitdReading, latest_vitd
from tests.builders import PatientBuilder, a_patient

LEGACY_ON = DEFAULT_PARAMETERS.with_overrides({"accept_vitd_legacy": True})
EGFR_UNIT = "mL/min/{1.73_m2}"


def reading(
    b: PatientBuilder, params: Parameters = DEFAULT_PARAMETERS, within: float | None = None
) -> VitdReading | None:
    return latest_vitd(Facts(b.snapshot(), params), params, within)


def only_d2_latest(b: PatientBuilder) -> PatientBuilder:
    """An older total within the window, then a newer draw holding only D2."""
    return b.lab("VITD", 25, "ng/mL", days_ago=100).lab("VITD2", 8, "ng/mL", days_ago=10)


# ---- the helper --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("labs", "expected"),
    [
        ((("VITD", 25, 10, None),), (25, VitdKind.TOTAL)),
        ((("VITD", 25, 10, None), ("VITD3", 40, 10, None)), (25, VitdKind.TOTAL)),
        ((("VITD3", 10, 10, None),), (10, VitdKind.D3)),
        ((("VITD3", 10, 10, None), ("VITD2", 8, 10, None)), (18, VitdKind.D3_D2)),
        ((("VITD3", 10, 11, "r1"), ("VITD2", 8, 10, "r1")), (18, VitdKind.D3_D2)),  # same report
        ((("VITD3", 10, 11, None), ("VITD2", 8, 10, None)), None),  # D2-only latest draw
        ((("VITD2", 8, 10, None),), None),
        ((("VITD", 25, 100, None), ("VITD2", 8, 10, None)), None),  # an older total does not count
        ((("VITD", 25, 100, None), ("VITD3", 12, 10, None)), (12, VitdKind.D3)),
        ((), None),
    ],
)
def test_the_latest_draw_decides_and_prefers_the_total_within_it(
    labs: tuple[tuple[str, float, float, str | None], ...], expected: tuple[float, VitdKind] | None
) -> None:
    b = a_patient()
    for name, value, days_ago, report in labs:
        b.lab(name, value, "ng/mL", days_ago=days_ago, report=report)
    found = reading(b)
    assert (None if found is None else (round(found.value, 6), found.kind)) == expected


@pytest.mark.parametrize(
    ("days_ago", "within", "present"),
    [(365, None, True), (366, None, False), (30, 30, True), (31, 30, False)],
)
def test_the_window_defaults_to_vitd_window_and_can_be_given(
    days_ago: float, within: float | None, present: bool
) -> None:
    b = a_patient().lab("VITD", 25, "ng/mL", days_ago=days_ago)
    assert (reading(b, within=within) is not None) is present


@pytest.mark.parametrize(("params", "expected"), [(DEFAULT_PARAMETERS, 25.0), (LEGACY_ON, 30.0)])
def test_a_legacy_result_counts_only_when_the_site_accepts_it(params: Parameters, expected: float) -> None:
    b = a_patient().lab("VITD", 25, "ng/mL", days_ago=100).lab("VITD_LEGACY", 30, "ng/mL", days_ago=10)
    found = reading(b, params)
    assert found is not None and found.value == expected


@pytest.mark.parametrize(
    ("d3", "d2", "unit", "shown"),
    [(10, 8, "ng/mL", ("18", "ng/mL")), (25, 15, "nmol/L", ("40", "nmol/L"))],
)
def test_a_d3_plus_d2_sum_in_one_unit_is_shown_in_that_unit(
    d3: float, d2: float, unit: str, shown: tuple[str, str]
) -> None:
    d3_name = "VITD3_MOL" if unit == "nmol/L" else "VITD3"
    b = a_patient().lab(d3_name, d3, unit, days_ago=5).lab("VITD2", d2, unit, days_ago=5)
    found = reading(b)
    assert found is not None and found.display() == shown


# ---- the rules agree with the reading ----------------------------------------------------------
def _hypocalcemia(b: PatientBuilder) -> PatientBuilder:
    return b.lab("CA", 8.0, "mg/dL", days_ago=2).lab("ALB", 4.0, "g/dL", days_ago=2)


def _phpt_suspected(b: PatientBuilder) -> PatientBuilder:
    return (
        b.lab("CA", 11.0, "mg/dL", days_ago=5)
        .lab("ALB", 4.0, "g/dL", days_ago=5)
        .lab("PTH", 90, "pg/mL", days_ago=5)
    )


def _pth_independent(b: PatientBuilder) -> PatientBuilder:
    return (
        b.lab("CA", 11.0, "mg/dL", days_ago=5)
        .lab("ALB", 4.0, "g/dL", days_ago=5)
        .lab("PTH", 8, "pg/mL", days_ago=5)
    )


def _asks_for_vitd(f: Finding) -> bool:
    return any(s.code == "62292-8" for s in f.suggestions)


def _workup(b: PatientBuilder) -> PatientBuilder:
    b.condition("M81.0").lab("CA", 9.4, "mg/dL", days_ago=30).lab("ALB", 4.0, "g/dL", days_ago=30)
    return b.lab("PO4", 3.3, "mg/dL", days_ago=30).lab("EGFR", 70, EGFR_UNIT, days_ago=30)


def _antiresorptive(b: PatientBuilder) -> PatientBuilder:
    b.lab("CA", 9.4, "mg/dL", days_ago=10).lab("ALB", 4.0, "g/dL", days_ago=10)
    return b.lab("EGFR", 70, EGFR_UNIT, days_ago=10).med("alendronate", draft=True)


CASES: dict[str, tuple[str, str, Callable[[PatientBuilder], PatientBuilder], Callable[[Finding], bool]]] = {
    "A9": ("hypocalcemia", "patient-view", _hypocalcemia, _asks_for_vitd),
    "A3": ("phpt-suspected", "patient-view", _phpt_suspected, _asks_for_vitd),
    "A4": ("pth-independent-hypercalcemia", "patient-view", _pth_independent, _asks_for_vitd),
    "C1": ("low-bmd-secondary-workup", "patient-view", _workup, lambda f: "25-OH D" in f.data["missing"]),
    "C6": (
        "antiresorptive-hypocalcemia-risk",
        "order-sign",
        _antiresorptive,
        lambda f: "no 25-OH D in 365 days" in f.data["problems"],
    ),
}


@pytest.mark.parametrize("rule", sorted(CASES))
@pytest.mark.parametrize(
    ("vitd", "missing"),
    [
        (lambda b: b.lab("VITD", 35, "ng/mL", days_ago=10), False),
        (lambda b: b.lab("VITD2", 35, "ng/mL", days_ago=10), True),
        (only_d2_latest, True),
        (lambda b: b, True),
    ],
    ids=["total", "d2-only", "d2-only-latest-draw", "none"],
)
def test_rules_that_ask_for_25_oh_d_agree_with_the_latest_draw(
    rule: str, vitd: Callable[[PatientBuilder], PatientBuilder], missing: bool
) -> None:
    rule_id, hook, setup, says_missing = CASES[rule]
    b = vitd(setup(a_patient(72, "female")))
    assert (reading(b) is None) is missing
    result = evaluate(b.snapshot(hook))
    found = [f for f in result.findings if f.rule_id == rule_id]
    if not found:  # C1 and C6 stay silent when nothing is missing
        assert not missing and rule in ("C1", "C6")
        return
    assert says_missing(found[0]) is missing


def test_pth_independent_hypercalcemia_shows_the_results_of_the_latest_draw() -> None:
    b = (
        _pth_independent(a_patient(60))
        .lab("VITD3", 150, "ng/mL", days_ago=5)
        .lab("VITD2", 30, "ng/mL", days_ago=5)
    )
    result = evaluate(b.snapshot())
    f = next(f for f in result.findings if f.rule_id == "pth-independent-hypercalcemia")
    assert {e.label for e in f.evidence} >= {"25-OH vitamin D3", "25-OH vitamin D2"}
