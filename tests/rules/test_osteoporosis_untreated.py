"""C3 `osteoporosis-untreated`: status sources, therapy windows (365 d; zoledronic acid 1095 d)."""

from __future__ import annotations

from functools import partial

import pytest

from rules.bone_density import osteoporosis_untreated as rule
from rules.facts import Facts
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import rule_ids_fired

RULE = rule.RULE_ID
EGFR_UNIT = "mL/min/{1.73_m2}"


def finding(b: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    return rule.evaluate(Facts(b.snapshot(hook), DEFAULT_PARAMETERS), DEFAULT_PARAMETERS)


fired = partial(rule_ids_fired, rule=RULE)


@pytest.mark.parametrize(
    ("status", "basis"),
    [
        ("M81.0", "diagnosis on record"),
        ("M81.0 resolved", "diagnosis on record"),
        ("Z87.310", "fragility fracture"),
        ("T -2.5", "T-score -2.5 at LS"),
    ],
)
def test_fires_for_each_source_of_osteoporosis_status(status: str, basis: str) -> None:
    b = a_patient(70, "female")
    if status.startswith("M81.0"):
        b.condition("M81.0", active="resolved" not in status)
    elif status == "Z87.310":
        b.condition("Z87.310")
    else:
        b.dxa("T", "LS", -2.5, days_ago=100)
    f = finding(b)
    assert f is not None
    assert f.indicator == "warning"
    assert f"Osteoporosis ({basis})" in f.summary
    assert f.summary.endswith("with no osteoporosis medication in the last 12 months.")


@pytest.mark.parametrize(
    ("age", "t", "fires"),
    [(70, -2.49, False), (70, -2.5, True), (38, -2.6, False), (55, -3.0, True)],
)
def test_t_score_threshold_and_population(age: int, t: float, fires: bool) -> None:
    assert (finding(a_patient(age, "female").dxa("T", "FN", t, days_ago=50)) is not None) is fires


def test_status_persists_when_a_later_t_score_improves() -> None:
    b = a_patient(70, "female").dxa("T", "LS", -2.7, days_ago=2000).dxa("T", "LS", -2.0, days_ago=50)
    assert finding(b) is not None


@pytest.mark.parametrize(
    "drug", ["alendronate", "risedronate", "denosumab", "teriparatide", "romosozumab", "raloxifene"]
)
def test_current_osteoporosis_therapy_silences_it(drug: str) -> None:
    b = a_patient(70, "female").condition("M81.0").med(drug, since_days=100)
    assert finding(b) is None


@pytest.mark.parametrize(
    ("drug", "ended_days_ago", "fires"),
    [
        ("alendronate", 365, False),
        ("alendronate", 366, True),
        ("zoledronic acid", 1095, False),
        ("zoledronic acid", 1096, True),
    ],
)
def test_past_therapy_counts_for_365_days_and_zoledronic_acid_for_1095(
    drug: str, ended_days_ago: int, fires: bool
) -> None:
    b = a_patient(70, "female").condition("M81.0")
    b.med(drug, since_days=ended_days_ago + 400, status="completed", ended_days_ago=ended_days_ago)
    assert (finding(b) is not None) is fires


@pytest.mark.parametrize("drug", ["calcitriol", "cholecalciferol", "cinacalcet"])
def test_other_bone_related_drugs_are_not_osteoporosis_therapy(drug: str) -> None:
    assert finding(a_patient(70, "female").condition("M81.0").med(drug, since_days=100)) is not None


def test_a_draft_order_is_not_therapy() -> None:
    b = a_patient(70, "female").condition("M81.0").med("alendronate", draft=True)
    assert finding(b) is not None


def test_no_osteoporosis_status_is_silent() -> None:
    assert finding(a_patient(70, "female").dxa("T", "LS", -1.8, days_ago=50)) is None


@pytest.mark.parametrize(("labs", "note"), [(False, True), (True, False)])
def test_card_points_to_the_incomplete_work_up(labs: bool, note: bool) -> None:
    b = a_patient(70, "female").condition("M81.0")
    if labs:
        b.lab("CA", 9.4, "mg/dL", days_ago=30).lab("ALB", 4.0, "g/dL", days_ago=30)
        b.lab("PO4", 3.3, "mg/dL", days_ago=30).lab("EGFR", 70, EGFR_UNIT, days_ago=30)
        b.lab("VITD", 34, "ng/mL", days_ago=30)
    f = finding(b)
    assert f is not None
    assert ("low-bmd-secondary-workup" in f.detail) is note
    assert bool(f.suggestions) is note


@pytest.mark.parametrize(
    ("hook", "fires"),
    [("patient-view", True), ("batch", True), ("background", False), ("order-sign", False)],
)
def test_runs_on_patient_view_and_batch(hook: str, fires: bool) -> None:
    assert (RULE in fired(a_patient(70, "female").condition("M81.0"), hook)) is fires


# ---- vignettes of RULES.md section 9 that involve C3 --------------------------------------------
def test_v41_untreated_vertebral_fracture_fires_warning() -> None:
    b = (
        a_patient(76, "female")
        .dxa("T", "LS", -2.1, days_ago=60)
        .dxa("T", "FN", -2.3, days_ago=60)
        .condition("M80.08XA")
    )
    assert RULE in fired(b)
    f = finding(b)
    assert f is not None
    assert f.indicator == "warning"


def test_v27_patient_on_alendronate_is_treated() -> None:
    b = a_patient(72, "female").dxa("T", "LS", -2.6, days_ago=900)
    b.med("alendronate", since_days=1500, dose_mg=10)
    assert RULE not in fired(b)


def test_v26_t_score_of_a_premenopausal_woman_is_not_osteoporosis() -> None:
    b = (
        a_patient(38, "female")
        .dxa("Z", "LS", -2.4, days_ago=20)
        .dxa("T", "LS", -2.6, days_ago=20)
        .dxa("Z", "TH", -1.5, days_ago=20)
    )
    assert RULE not in fired(b)


def test_v02_phpt_with_t_scores_above_minus_2_5_is_silent() -> None:
    b = (
        a_patient(58, "female")
        .dxa("T", "LS", -1.7, days_ago=300)
        .dxa("T", "TH", -1.4, days_ago=300)
        .dxa("T", "FN", -1.6, days_ago=300)
        .dxa("T", "RAD", -1.9, days_ago=300)
        .condition("E21.0")
    )
    assert RULE not in fired(b)
