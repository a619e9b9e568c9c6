"""C10 `tsh-suppressed-bone-risk`: TSH threshold and window, the bone-risk groups, exclusion, hooks."""

from __future__ import annotations

from functools import partial

import pytest

from rules.bone_density import tsh_suppressed_bone_risk as rule
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import findings_by_rule, run_rule

RULE = rule.RULE_ID
MIU = "m[IU]/L"


run = partial(run_rule, rule.RULE)
engine = partial(findings_by_rule, rule=RULE)


def suppressed(tsh: float = 0.05, age: int | None = 70, sex: str = "female") -> PatientBuilder:
    return a_patient(age, sex).lab("TSH", tsh, MIU, days_ago=20)


# ---- TSH < 0.1 mIU/L within 180 days -----------------------------------------------------------
@pytest.mark.parametrize(
    ("tsh", "comparator", "fires", "shown"),
    [
        (0.1, None, False, ""),
        (0.099, None, True, "TSH <0.1 mIU/L"),  # two decimals would round it up to 0.1
        (0.1, "<", True, "TSH <0.1 mIU/L"),  # "<0.1" is read as 0.0999
        (0.05, None, True, "TSH 0.05 mIU/L"),
        (0.004, None, True, "TSH <0.01 mIU/L"),  # two decimals would show 0
        (0.4, None, False, ""),
    ],
)
def test_fires_only_below_0_1(tsh: float, comparator: str | None, fires: bool, shown: str) -> None:
    b = a_patient(70, "female").lab("TSH", tsh, MIU, days_ago=20, comparator=comparator)
    finding = run(b)
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.summary.startswith(shown)
        assert "(<0.1)" in finding.summary


def test_uiu_per_ml_is_the_same_scale() -> None:
    assert run(a_patient(70, "female").lab("TSH", 0.05, "uIU/mL", days_ago=20)) is not None


@pytest.mark.parametrize(("days_ago", "fires"), [(180, True), (181, False)])
def test_only_a_tsh_within_180_days_counts(days_ago: int, fires: bool) -> None:
    b = a_patient(70, "female").lab("TSH", 0.05, MIU, days_ago=days_ago)
    assert (run(b) is not None) is fires


def test_the_latest_tsh_decides() -> None:
    b = suppressed().lab("TSH", 1.2, MIU, days_ago=5)
    assert run(b) is None


def test_no_tsh_no_card() -> None:
    assert run(a_patient(70, "female")) is None


# ---- bone risk ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("age", "sex", "fires"),
    [
        (65, "male", True),
        (64, "male", False),
        (50, "female", True),  # postmenopausal age, no bisphosphonate
        (49, "female", False),
        (55, "unknown", False),
        (None, "female", False),  # unknown age never qualifies by age
    ],
)
def test_age_and_sex_risk_groups(age: int | None, sex: str, fires: bool) -> None:
    assert (run(suppressed(age=age, sex=sex)) is not None) is fires


@pytest.mark.parametrize("code", ["M81.0", "M80.08XA", "Z87.310"])
def test_osteoporosis_status_qualifies_at_any_age(code: str) -> None:
    finding = run(suppressed(age=40, sex="male").condition(code))
    assert finding is not None
    assert "osteoporosis" in finding.data["bone_risk"]


def test_osteoporosis_by_t_score_qualifies() -> None:
    assert run(suppressed(age=55, sex="male").dxa("T", "LS", -2.5, days_ago=100)) is not None
    assert run(suppressed(age=55, sex="male").dxa("T", "LS", -2.4, days_ago=100)) is None


def test_unknown_age_with_osteoporosis_still_qualifies() -> None:
    assert run(suppressed(age=None).condition("M81.0")) is not None


@pytest.mark.parametrize(
    ("status", "ended_days_ago", "fires"),
    [("active", None, False), ("completed", 365, False), ("completed", 366, True)],
)
def test_a_bisphosphonate_within_365_days_removes_the_postmenopausal_group(
    status: str, ended_days_ago: int | None, fires: bool
) -> None:
    b = suppressed(age=55).med("alendronate", since_days=800, status=status, ended_days_ago=ended_days_ago)
    assert (run(b) is not None) is fires


def test_a_bisphosphonate_does_not_remove_the_age_65_group() -> None:
    assert run(suppressed(age=70).med("alendronate", since_days=800)) is not None


# ---- exclusion ---------------------------------------------------------------------------------
def test_active_thyroid_cancer_excludes_it() -> None:
    assert run(suppressed().condition("C73")) is None
    assert run(suppressed().condition("C73", active=False)) is not None


# ---- card content ------------------------------------------------------------------------------
def test_on_levothyroxine_the_card_asks_to_review_the_dose() -> None:
    finding = run(suppressed().med("levothyroxine", since_days=2000, dose_mg=0.15))
    assert finding is not None
    assert "review the dose" in finding.detail
    endogenous = run(suppressed())
    assert endogenous is not None
    assert "endogenous" in endogenous.detail


@pytest.mark.parametrize(("dxa_days_ago", "suggests_dxa"), [(None, True), (730, False), (731, True)])
def test_suggests_dxa_only_when_none_is_recent(dxa_days_ago: int | None, suggests_dxa: bool) -> None:
    b = suppressed()
    if dxa_days_ago is not None:
        b = b.dxa("T", "LS", -1.0, days_ago=dxa_days_ago)
    finding = run(b)
    assert finding is not None
    assert any(s.code == "83311-1" for s in finding.suggestions) is suggests_dxa
    assert any(s.code == "3016-3" for s in finding.suggestions)


def test_card_is_info_and_cites_ata() -> None:
    finding = run(suppressed())
    assert finding is not None
    assert finding.indicator == "info"
    assert finding.summary.endswith("in a patient at bone risk: confirm and review thyroid treatment.")
    assert len(finding.summary) < 140
    assert "thy.2016.0229" in finding.detail


# ---- hooks and vignettes -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hook", "runs"),
    [("patient-view", True), ("background", True), ("batch", True), ("order-sign", False)],
)
def test_runs_on_patient_view_background_and_batch(hook: str, runs: bool) -> None:
    assert (RULE in engine(suppressed(), hook)) is runs


def test_v30_tsh_0_05_on_levothyroxine_woman_70() -> None:
    b = (
        a_patient(70, "female")
        .lab("TSH", 0.05, MIU, days_ago=20)
        .dxa("T", "LS", -1.9, days_ago=300)
        .med("levothyroxine", since_days=2000, dose_mg=0.15)
    )
    found = engine(b)
    assert found[RULE].indicator == "info"
    assert found[RULE].summary.startswith("TSH 0.05 mIU/L (<0.1)")


def test_v09_levothyroxine_without_a_tsh_does_not_fire() -> None:
    b = (
        a_patient(52, "female")
        .lab("CA", 7.4, "mg/dL", days_ago=3)
        .lab("ALB", 4, "g/dL", days_ago=3)
        .lab("PTH", 6, "pg/mL", days_ago=3)
        .lab("MG", 1.9, "mg/dL", days_ago=3)
        .lab("PO4", 5.1, "mg/dL", days_ago=3)
        .med("levothyroxine", since_days=40)
        .condition("E89.0")
    )
    assert RULE not in engine(b)
