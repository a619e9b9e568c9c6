"""C8 `osteoporosis-screening-due`: women ≥ 65 only, never with a DXA, osteoporosis or therapy."""

from __future__ import annotations

from functools import partial

import pytest

from rules.bone_density import osteoporosis_screening_due as rule
from rules.facts import Facts
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import rule_ids_fired

RULE = rule.RULE_ID


def finding(b: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    return rule.evaluate(Facts(b.snapshot(hook), DEFAULT_PARAMETERS), DEFAULT_PARAMETERS)


fired = partial(rule_ids_fired, rule=RULE)


@pytest.mark.parametrize(("age", "fires"), [(64, False), (65, True), (90, True)])
def test_women_from_65(age: int, fires: bool) -> None:
    f = finding(a_patient(age, "female"))
    assert (f is not None) is fires
    if f is not None:
        assert f.indicator == "info"
        assert f"Woman aged {age} " in f.summary
        assert any(s.code == "83311-1" for s in f.suggestions)


@pytest.mark.parametrize("sex", ["male", "other", "unknown"])
def test_never_for_men_or_an_unknown_sex(sex: str) -> None:
    assert finding(a_patient(70, sex)) is None


def test_never_with_an_unknown_age() -> None:
    assert finding(a_patient(None, "female")) is None


@pytest.mark.parametrize("days_ago", [10, 730, 731, 5000])
def test_any_dxa_ever_on_record_silences_it(days_ago: int) -> None:
    assert finding(a_patient(70, "female").dxa("T", "LS", -1.2, days_ago=days_ago)) is None
    assert finding(a_patient(70, "female").dxa("Z", "TH", 0.3, days_ago=days_ago)) is None
    assert finding(a_patient(70, "female").dxa_procedure(days_ago=days_ago)) is None


@pytest.mark.parametrize("code", ["M81.0", "Z87.310", "M80.08XA"])
def test_osteoporosis_status_silences_it(code: str) -> None:
    assert finding(a_patient(70, "female").condition(code, active=False)) is None


@pytest.mark.parametrize(
    ("drug", "status", "fires"),
    [
        ("alendronate", "active", False),
        ("alendronate", "stopped", False),  # any time: stopped long ago still counts
        ("denosumab", "completed", False),
        ("raloxifene", "stopped", False),
        ("alendronate", "entered-in-error", True),  # ignored status (1.3)
        ("alendronate", "cancelled", True),
        ("cholecalciferol", "active", True),  # not osteoporosis therapy
    ],
)
def test_any_osteoporosis_therapy_ever_on_record_silences_it(drug: str, status: str, fires: bool) -> None:
    ended = 4000 if status in ("stopped", "completed") else None
    b = a_patient(70, "female").med(drug, since_days=5000, status=status, ended_days_ago=ended)
    assert (finding(b) is not None) is fires


def test_osteopenia_condition_alone_does_not_silence_it() -> None:
    assert finding(a_patient(70, "female").condition("M85.80")) is not None


@pytest.mark.parametrize(
    ("hook", "fires"),
    [("patient-view", True), ("batch", True), ("background", False), ("order-select", False)],
)
def test_runs_on_patient_view_and_batch(hook: str, fires: bool) -> None:
    assert (RULE in fired(a_patient(67, "female"), hook)) is fires


def test_summary_is_short() -> None:
    f = finding(a_patient(104, "female"))
    assert f is not None
    assert len(f.summary) < 140


# ---- vignettes of RULES.md section 9 that involve C8 --------------------------------------------
def test_v28_woman_67_never_screened_fires_info() -> None:
    assert RULE in fired(a_patient(67, "female"))


def test_v29_man_70_never_screened_gets_no_card() -> None:
    assert RULE not in fired(a_patient(70, "male"))


def test_v30_woman_70_with_a_dxa_on_file_gets_no_screening_card() -> None:
    b = (
        a_patient(70, "female")
        .lab("TSH", 0.05, "mIU/L", days_ago=20)
        .dxa("T", "LS", -1.9, days_ago=300)
        .med("levothyroxine", since_days=2000)
    )
    assert RULE not in fired(b)


def test_v01_woman_62_is_too_young() -> None:
    assert RULE not in fired(a_patient(62, "female").dxa("T", "LS", -1.8, days_ago=200))


def test_v41_known_osteoporosis_gets_no_screening_card() -> None:
    b = (
        a_patient(76, "female")
        .dxa("T", "LS", -2.1, days_ago=60)
        .dxa("T", "FN", -2.3, days_ago=60)
        .condition("M80.08XA")
    )
    assert RULE not in fired(b)


def test_v20_man_on_dexamethasone_gets_no_screening_card() -> None:
    b = a_patient(58, "male").med("dexamethasone", since_days=120, dose_mg=0.5)
    assert RULE not in fired(b)
