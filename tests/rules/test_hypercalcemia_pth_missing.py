"""A1 `hypercalcemia-pth-missing`: thresholds, the ±30-day PTH window, exclusions, missing data."""

from __future__ import annotations

from functools import partial

import pytest

from tests.builders import a_patient
from tests.rules.helpers import findings_by_rule

RULE = "hypercalcemia-pth-missing"


fired = partial(findings_by_rule, rule=RULE)


@pytest.mark.parametrize(
    ("ca", "fires"),
    [(10.2, False), (10.21, True), (10.9, True)],
)
def test_fires_only_above_the_upper_reference_limit(ca: float, fires: bool) -> None:
    p = a_patient(55, "male").lab("CA", ca, "mg/dL", days_ago=5).lab("ALB", 4.0, "g/dL", days_ago=5)
    assert (RULE in fired(p)) is fires


@pytest.mark.parametrize(("pth_days_ago", "fires"), [(35, False), (36, True)])
def test_pth_within_30_days_of_the_index_calcium_silences_it(pth_days_ago: int, fires: bool) -> None:
    p = (
        a_patient(55, "male")
        .lab("CA", 10.9, "mg/dL", days_ago=5)
        .lab("ALB", 4.0, "g/dL", days_ago=5)
        .lab("PTH", 70, "pg/mL", days_ago=pth_days_ago)
    )
    assert (RULE in fired(p)) is fires


def test_active_phpt_condition_hands_over_to_surgical_criteria() -> None:
    p = a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5).condition("E21.0")
    assert RULE not in fired(p)


def test_uncorrected_calcium_still_fires_and_asks_for_albumin() -> None:
    finding = fired(a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5))[RULE]
    assert "(uncorrected)" in finding.summary
    assert any(s.code == "1751-7" for s in finding.suggestions)
    assert finding.indicator == "warning"
