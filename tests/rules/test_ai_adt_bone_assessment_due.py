"""C5 `ai-adt-bone-assessment-due`: drug classes, current vs draft, DXA-due edges, age and hooks."""

from __future__ import annotations

from functools import partial

import pytest

from rules.bone_density import ai_adt_bone_assessment_due as rule
from rules.params import DEFAULT_PARAMETERS
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import findings_by_rule, run_rule

RULE = rule.RULE_ID


run = partial(run_rule, rule.RULE)
engine = partial(findings_by_rule, rule=RULE)


def on_drug(drug: str = "anastrozole", since: int = 200, age: int | None = 63) -> PatientBuilder:
    return a_patient(age, "female").med(drug, since_days=since, dose_mg=1)


def drafted(drug: str = "anastrozole") -> PatientBuilder:
    return a_patient(63, "female").med(drug, dose_mg=1, draft=True)


# ---- drug classes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("drug", "fires"),
    [
        ("anastrozole", True),
        ("letrozole", True),
        ("exemestane", True),
        ("leuprolide", True),
        ("goserelin", True),
        ("degarelix", True),
        ("bicalutamide", False),  # antiandrogens are off by default
        ("omeprazole", False),
    ],
)
def test_aromatase_inhibitors_and_gnrh_drugs_trigger(drug: str, fires: bool) -> None:
    assert (run(on_drug(drug)) is not None) is fires


def test_antiandrogens_count_when_the_site_enables_them() -> None:
    params = DEFAULT_PARAMETERS.with_overrides({"include_antiandrogens": True})
    finding = run(on_drug("bicalutamide"), params=params)
    assert finding is not None
    assert finding.summary.startswith("Bicalutamide increases fracture risk")


def test_only_current_records_count_on_patient_view() -> None:
    ended = a_patient(63, "female").med("anastrozole", since_days=400, status="completed", ended_days_ago=10)
    assert run(ended) is None


@pytest.mark.parametrize(("given_days_ago", "fires"), [(20, True), (40, False)])
def test_an_administered_depot_is_current_for_its_dosing_interval(given_days_ago: int, fires: bool) -> None:
    b = a_patient(69, "male").med("leuprolide", since_days=given_days_ago, source="administration")
    assert (run(b) is not None) is fires


# ---- DXA due: latest DXA < max(S − 365 d, T − 730 d) -------------------------------------------
@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(730, False), (731, True)])
def test_long_standing_therapy_needs_a_dxa_within_730_days(dxa_days_ago: int, fires: bool) -> None:
    finding = run(on_drug(since=2000).dxa("T", "LS", -1.0, days_ago=dxa_days_ago))
    assert (finding is not None) is fires
    if finding is not None:
        assert "no DXA in 2 years" in finding.summary


@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(565, False), (566, True)])
def test_recent_start_needs_a_dxa_from_within_a_year_before_it(dxa_days_ago: int, fires: bool) -> None:
    finding = run(on_drug(since=200).dxa_procedure(days_ago=dxa_days_ago))  # bound d−565
    assert (finding is not None) is fires
    if finding is not None:
        assert "no DXA in the last 18 months" in finding.summary


def test_each_drug_class_has_its_own_episode() -> None:
    b = (
        a_patient(69, "male")
        .med("anastrozole", since_days=2000)
        .med("leuprolide", since_days=100)
        .dxa("T", "LS", -1.0, days_ago=600)
    )
    finding = run(b)
    assert finding is not None
    assert finding.data == {"drug": "Leuprolide", "class": "GNRH"}


def test_no_dxa_on_record() -> None:
    finding = run(on_drug())
    assert finding is not None
    assert "no DXA in the record" in finding.summary
    assert "No DXA" in finding.detail


# ---- order hooks -------------------------------------------------------------------------------
@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(365, False), (366, True)])
def test_new_draft_needs_a_dxa_within_the_last_12_months(dxa_days_ago: int, fires: bool) -> None:
    finding = run(drafted().dxa("T", "LS", -1.0, days_ago=dxa_days_ago), "order-sign")
    assert (finding is not None) is fires
    if finding is not None:
        assert "no DXA in the last 12 months" in finding.summary


def test_draft_continuing_current_therapy_keeps_the_episode_start() -> None:
    renewal = drafted().med("anastrozole", since_days=1000).dxa("T", "LS", -1.0, days_ago=500)
    assert run(renewal, "order-sign") is None
    assert run(drafted().dxa("T", "LS", -1.0, days_ago=500), "order-sign") is not None


@pytest.mark.parametrize(
    ("hook", "indicator"),
    [("order-sign", "warning"), ("order-select", "warning")],
)
def test_draft_order_warns_on_order_hooks(hook: str, indicator: str) -> None:
    finding = run(drafted(), hook)
    assert finding is not None
    assert finding.indicator == indicator


@pytest.mark.parametrize("hook", ["patient-view", "batch"])
def test_current_therapy_is_info_on_patient_view_and_batch(hook: str) -> None:
    finding = run(on_drug(), hook)
    assert finding is not None
    assert finding.indicator == "info"


def test_order_hooks_judge_only_drafts() -> None:
    assert run(on_drug(), "order-sign") is None


def test_patient_view_ignores_drafts() -> None:
    assert run(drafted()) is None


def test_order_select_judges_only_the_selected_drafts() -> None:
    b = drafted()
    selected = frozenset({b.snapshot("order-select").draft_orders[0].reference})
    assert run(b, "order-select", selections=frozenset()) is None
    assert run(b, "order-select", selections=selected) is not None


# ---- age ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("age", "fires"), [(17, False), (18, True)])
def test_patients_under_18_are_excluded(age: int, fires: bool) -> None:
    b = on_drug("leuprolide", age=age)
    assert (run(b) is not None) is fires
    assert (RULE in engine(b)) is fires


def test_unknown_age_passes_the_adult_gate() -> None:
    assert run(on_drug(age=None)) is not None


def test_card_names_the_drug_and_cites_asco() -> None:
    finding = run(on_drug("letrozole"))
    assert finding is not None
    assert finding.summary.startswith("Letrozole increases fracture risk; no DXA in")
    assert finding.summary.endswith("order baseline bone density.")
    assert len(finding.summary) < 140
    assert any(s.code == "83311-1" for s in finding.suggestions)
    assert "10.1200/JCO.19.01696" in finding.detail


# ---- vignettes (section 9) ---------------------------------------------------------------------
def test_v22_order_select_anastrozole_with_dxa_1000_days_ago_warns() -> None:
    b = a_patient(63, "female").dxa("T", "LS", -1.3, days_ago=1000).med("anastrozole", dose_mg=1, draft=True)
    assert engine(b, "order-select")[RULE].indicator == "warning"


def test_v31_leuprolide_without_dxa_is_info_and_no_generic_dxa_card() -> None:
    b = a_patient(69, "male").med("leuprolide", since_days=200).condition("C61")
    found = engine(b)
    assert found[RULE].indicator == "info"
    assert "bone-risk-condition-dxa-due" not in found
