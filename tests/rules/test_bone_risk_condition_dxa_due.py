"""C9 `bone-risk-condition-dxa-due`: qualifying conditions, age floors, DXA window, exclusions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest

from rules import ProcedureRecord, evaluate
from rules.bone_density import bone_risk_condition_dxa_due as rule
from rules.params import DEFAULT_PARAMETERS
from tests.builders import PatientBuilder, T, a_patient
from tests.rules.helpers import findings_by_rule, run_rule, vignette_patient

RULE = rule.RULE_ID
EGFR = "mL/min/{1.73_m2}"


run = partial(run_rule, rule.RULE)
engine = partial(findings_by_rule, rule=RULE)


# ---- conditions that count from 18 -------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("E24.9", "Cushing syndrome"),
        ("E29.1", "Hypogonadism"),
        ("F50.00", "Anorexia nervosa"),
        ("Z98.84", "Gastric or bariatric surgery"),
    ],
)
@pytest.mark.parametrize(("age", "fires"), [(17, False), (18, True)])
def test_adult_conditions_count_from_18(code: str, name: str, age: int, fires: bool) -> None:
    finding = run(a_patient(age, "female").condition(code))
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.summary.startswith(f"{name} is linked to bone loss")


@pytest.mark.parametrize("code", ["E24.9", "E29.1", "F50.00"])
def test_resolved_adult_conditions_do_not_count(code: str) -> None:
    assert run(a_patient(35, "female").condition(code, active=False)) is None


def test_gi_surgery_counts_as_history_even_when_not_active() -> None:
    assert run(a_patient(35, "female").condition("Z98.84", active=False)) is not None


def test_gi_surgery_procedure_counts() -> None:
    snapshot = a_patient(35, "female").snapshot()
    surgery = ProcedureRecord("Procedure/gastrectomy", frozenset({"GI_SURGERY"}), T, "Sleeve gastrectomy")
    finding = run(replace(snapshot, procedures=(surgery,)))
    assert finding is not None
    assert any(e.reference == "Procedure/gastrectomy" for e in finding.evidence)


# ---- conditions that count from 50 -------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("E05.90", "Hyperthyroidism"),
        ("E10.9", "Type 1 diabetes"),
        ("K90.0", "Celiac disease"),
        ("K50.90", "Inflammatory bowel disease"),
        ("M06.9", "Rheumatoid arthritis"),
        ("M45.9", "Ankylosing spondylitis"),
        ("C90.00", "Multiple myeloma"),
        ("N18.31", "CKD G3a"),
        ("N18.4", "CKD G4"),
        ("N18.6", "CKD G5D"),
    ],
)
@pytest.mark.parametrize(("age", "fires"), [(49, False), (50, True)])
def test_older_adult_conditions_count_from_50(code: str, name: str, age: int, fires: bool) -> None:
    finding = run(a_patient(age, "male").condition(code))
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.summary.startswith(f"{name} is linked to bone loss")


@pytest.mark.parametrize("code", ["E05.90", "M06.9", "K50.90"])
def test_resolved_older_adult_conditions_do_not_count(code: str) -> None:
    assert run(a_patient(60, "male").condition(code, active=False)) is None


@pytest.mark.parametrize(
    ("latest", "earlier", "fires"),
    [(55, 58, True), (60, 58, False), (55, None, False)],  # two eGFR < 60 ≥ 90 d apart (3.6)
)
def test_ckd_stage_from_egfr_counts(latest: float, earlier: float | None, fires: bool) -> None:
    b = a_patient(60, "male").lab("EGFR", latest, EGFR, days_ago=10)
    if earlier is not None:
        b = b.lab("EGFR", earlier, EGFR, days_ago=120)
    finding = run(b)
    assert (finding is not None) is fires
    if finding is not None:
        assert "CKD G3a" in finding.summary
        assert any(e.label == "eGFR" for e in finding.evidence)


def test_ckd_without_a_stage_does_not_count() -> None:
    # N18.x codes without a stage (N18.9) and CKD sets without a stage leave ckd_stage empty
    snapshot = a_patient(60, "male").condition("N18.31").snapshot()
    unstaged = replace(snapshot.conditions[0], ckd_stage=None)
    assert run(replace(snapshot, conditions=(unstaged,))) is None


def test_unknown_age_keeps_the_18_group_and_drops_the_50_group() -> None:
    assert run(a_patient(None).condition("E24.9")) is not None
    assert run(a_patient(None).condition("M06.9")) is None


# ---- DXA window and exclusions -----------------------------------------------------------------
@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(730, False), (731, True)])
def test_a_dxa_within_730_days_silences_it(dxa_days_ago: int, fires: bool) -> None:
    b = a_patient(60, "female").condition("M06.9").dxa("T", "LS", -1.0, days_ago=dxa_days_ago)
    finding = run(b)
    assert (finding is not None) is fires
    if finding is not None:
        assert any(e.label == "Latest DXA on record" for e in finding.evidence)


@pytest.mark.parametrize(
    ("dxa_recent", "dxa_days_ago", "wording"),
    [(365, 366, "no DXA in 1 year"), (400, 401, "no DXA in 13 months")],
)
def test_the_dxa_window_is_the_dxa_recent_parameter(dxa_recent: int, dxa_days_ago: int, wording: str) -> None:
    params = DEFAULT_PARAMETERS.with_overrides({"DXA_RECENT": dxa_recent})
    b = a_patient(60, "female").condition("M06.9")
    assert run(b.dxa("T", "LS", -1.0, days_ago=dxa_days_ago - 1), params=params) is None
    finding = run(b.but(dxas=[]).dxa("T", "LS", -1.0, days_ago=dxa_days_ago), params=params)
    assert finding is not None
    assert wording in finding.summary


def test_a_dxa_procedure_counts_as_dxa_on_record() -> None:
    assert run(a_patient(60, "female").condition("M06.9").dxa_procedure(days_ago=100)) is None


def test_active_phpt_hands_over_to_surgical_criteria() -> None:
    assert run(a_patient(60, "female").condition("M06.9").condition("E21.0")) is None
    resolved = a_patient(60, "female").condition("M06.9").condition("E21.0", active=False)
    assert run(resolved) is not None


def test_several_conditions_are_listed_and_the_summary_stays_short() -> None:
    b = a_patient(60, "female")
    for code in ("E24.9", "E29.1", "F50.00", "Z98.84", "E05.90", "E10.9", "K90.0", "M06.9"):
        b = b.condition(code)
    finding = run(b)
    assert finding is not None
    assert len(finding.summary) < 140
    assert finding.summary.startswith("Cushing syndrome, hypogonadism")
    assert "more is linked to bone loss" in finding.summary
    assert "rheumatoid arthritis" in finding.data["conditions"]


def test_card_content() -> None:
    finding = run(a_patient(35, "female").condition("E24.9"))
    assert finding is not None
    assert finding.indicator == "info"
    assert finding.summary.endswith("no DXA in 2 years: consider bone density testing.")
    assert any(s.code == "83311-1" for s in finding.suggestions)
    assert "no DXA on record" in finding.detail


# ---- engine: scope and suppression (1.5) -------------------------------------------------------
def test_a_specific_gio_card_suppresses_it() -> None:
    b = a_patient(60, "female").condition("M06.9").med("prednisone", since_days=120, dose_mg=10)
    result = evaluate(b.snapshot())
    assert RULE in result.suppressed
    assert RULE not in result.rule_ids


@pytest.mark.parametrize("hook", ["order-sign", "order-select", "background"])
def test_not_evaluated_outside_patient_view_and_batch(hook: str) -> None:
    assert RULE not in engine(a_patient(35, "female").condition("E24.9"), hook)


def test_runs_in_batch() -> None:
    assert RULE in engine(a_patient(35, "female").condition("E24.9"), "batch")


# ---- vignettes (section 9) ---------------------------------------------------------------------
def v13() -> PatientBuilder:
    return vignette_patient("V13")


def v32() -> PatientBuilder:
    return (
        a_patient(63, "female")
        .lab("EGFR", 22, EGFR, days_ago=30)
        .lab("EGFR", 25, EGFR, days_ago=150)
        .lab("CA", 9.1, "mg/dL", days_ago=250)
        .lab("ALB", 3.9, "g/dL", days_ago=250)
        .lab("PO4", 4.4, "mg/dL", days_ago=250)
        .lab("VITD", 33, "ng/mL", days_ago=250)
        .dxa("T", "LS", -1.5, days_ago=500)
    )


def v38() -> PatientBuilder:
    return (
        a_patient(66, "male")
        .lab("EGFR", 9, EGFR, days_ago=20)
        .lab("PTH", 390, "pg/mL", days_ago=20)
        .lab("CA", 9.2, "mg/dL", days_ago=20)
        .lab("ALB", 3.7, "g/dL", days_ago=20)
        .lab("PO4", 5.2, "mg/dL", days_ago=20)
        .lab("VITD", 31, "ng/mL", days_ago=200)
        .dxa("T", "LS", -1.8, days_ago=600)
        .condition("N18.6")
        .condition("Z99.2")
    )


@pytest.mark.parametrize(
    "vignette",
    [
        pytest.param(v13, id="V13 CKD G3b, DXA d-400"),
        pytest.param(v32, id="V32 CKD G4, DXA d-500"),
        pytest.param(v38, id="V38/V39 dialysis, DXA d-600"),
        pytest.param(lambda: a_patient(67, "female"), id="V28 no condition"),
        pytest.param(
            lambda: a_patient(69, "male").med("leuprolide", since_days=200).condition("C61"),
            id="V31 prostate cancer is not a C9 condition",
        ),
        pytest.param(
            lambda: a_patient(47, "male").med("budesonide", since_days=100, dose_mg=9).condition("K50.90"),
            id="V44 IBD at 47",
        ),
    ],
)
def test_vignettes_where_it_must_not_fire(vignette: Callable[[], PatientBuilder]) -> None:
    assert RULE not in engine(vignette())


def test_v33_after_bariatric_surgery_at_44_fires() -> None:
    b = (
        a_patient(44, "female")
        .lab("VITD", 17, "ng/mL", days_ago=30)
        .lab("PTH", 95, "pg/mL", days_ago=30)
        .lab("CA", 9, "mg/dL", days_ago=30)
        .lab("ALB", 3.9, "g/dL", days_ago=30)
        .lab("EGFR", 95, EGFR, days_ago=30)
        .condition("Z98.84")
    )
    assert engine(b)[RULE].indicator == "info"


def test_v42_cushing_at_35_fires() -> None:
    found = engine(a_patient(35, "female").condition("E24.9"))
    assert found[RULE].indicator == "info"
    assert "osteoporosis-screening-due" not in found
