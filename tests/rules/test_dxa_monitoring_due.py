"""C7 `dxa-monitoring-due`: therapy windows, the 730-day DXA edge, DXA evidence, hooks."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from rules.bone_density import dxa_monitoring_due as rule
from rules.facts import Facts
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS
from rules.windows import fmt_date
from tests.builders import PatientBuilder, T, a_patient
from tests.rules.helpers import rule_ids_fired

RULE = rule.RULE_ID


def finding(b: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    return rule.evaluate(Facts(b.snapshot(hook), DEFAULT_PARAMETERS), DEFAULT_PARAMETERS)


fired = partial(rule_ids_fired, rule=RULE)


def on_alendronate() -> PatientBuilder:
    return a_patient(72, "female").med("alendronate", since_days=1500, dose_mg=10)


@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(730, False), (731, True)])
def test_fires_when_the_latest_dxa_is_older_than_730_days(dxa_days_ago: int, fires: bool) -> None:
    f = finding(on_alendronate().dxa("T", "LS", -2.6, days_ago=dxa_days_ago))
    assert (f is not None) is fires
    if f is not None:
        assert f.indicator == "info"
        assert f"last DXA {fmt_date(T - timedelta(days=dxa_days_ago))}:" in f.summary


def test_fires_with_never_when_no_dxa_is_on_record() -> None:
    f = finding(on_alendronate())
    assert f is not None
    assert f.summary.startswith("On alendronate with last DXA never:")
    assert any(s.code == "83311-1" for s in f.suggestions)


@pytest.mark.parametrize(("procedure_days_ago", "fires"), [(730, False), (731, True)])
def test_a_dxa_procedure_counts_as_dxa_on_record(procedure_days_ago: int, fires: bool) -> None:
    f = finding(on_alendronate().dxa_procedure(days_ago=procedure_days_ago))
    assert (f is not None) is fires


def test_the_latest_of_several_dxas_decides() -> None:
    b = on_alendronate().dxa("T", "LS", -2.6, days_ago=1500).dxa("T", "LS", -2.4, days_ago=400)
    assert finding(b) is None


@pytest.mark.parametrize(
    ("drug", "ended_days_ago", "fires"),
    [
        ("alendronate", 365, True),
        ("alendronate", 366, False),
        ("denosumab", 365, True),
        ("zoledronic acid", 1095, True),
        ("zoledronic acid", 1096, False),
    ],
)
def test_on_therapy_follows_the_365_and_1095_day_windows(drug: str, ended_days_ago: int, fires: bool) -> None:
    b = a_patient(72, "female").med(
        drug, since_days=ended_days_ago + 300, status="completed", ended_days_ago=ended_days_ago
    )
    f = finding(b)
    assert (f is not None) is fires
    if f is not None:
        assert f.summary.startswith(f"On {drug} with last DXA never")


@pytest.mark.parametrize("drug", ["teriparatide", "romosozumab", "raloxifene", "risedronate"])
def test_every_osteoporosis_therapy_counts(drug: str) -> None:
    f = finding(a_patient(72, "female").med(drug, since_days=100))
    assert f is not None
    assert drug in f.summary


def test_the_current_drug_is_named_rather_than_a_past_one() -> None:
    b = a_patient(72, "female").med("alendronate", since_days=900, status="completed", ended_days_ago=200)
    b.med("denosumab", since_days=150)
    f = finding(b)
    assert f is not None
    assert f.summary.startswith("On denosumab ")


@pytest.mark.parametrize("drug", ["cholecalciferol", "calcitriol"])
def test_not_on_osteoporosis_therapy_is_silent(drug: str) -> None:
    assert finding(a_patient(72, "female").med(drug, since_days=100)) is None


def test_a_draft_order_is_not_therapy() -> None:
    b = a_patient(72, "female").med("alendronate", draft=True)
    assert finding(b, "order-sign") is None


def test_evidence_lists_the_drug_and_the_latest_dxa() -> None:
    f = finding(on_alendronate().dxa("T", "LS", -2.6, days_ago=900))
    assert f is not None
    labels = [e.label for e in f.evidence]
    assert "Medication: alendronate" in labels
    assert "DXA T-score LS" in labels


@pytest.mark.parametrize(
    ("hook", "fires"),
    [("patient-view", True), ("batch", True), ("background", False), ("order-sign", False)],
)
def test_runs_on_patient_view_and_batch(hook: str, fires: bool) -> None:
    assert (RULE in fired(on_alendronate(), hook)) is fires


# ---- vignettes of RULES.md section 9 that involve C7 --------------------------------------------
def test_v27_alendronate_for_4_years_with_dxa_900_days_ago_fires_info() -> None:
    b = (
        a_patient(72, "female")
        .lab("CA", 9.4, "mg/dL", days_ago=100)
        .lab("ALB", 4.0, "g/dL", days_ago=100)
        .lab("PO4", 3.3, "mg/dL", days_ago=100)
        .lab("EGFR", 65, "mL/min/{1.73_m2}", days_ago=100)
        .lab("VITD", 36, "ng/mL", days_ago=100)
        .dxa("T", "LS", -2.6, days_ago=900)
        .med("alendronate", since_days=1500, dose_mg=10)
    )
    rule_ids = fired(b)
    assert RULE in rule_ids
    assert "osteoporosis-untreated" not in rule_ids
    assert "low-bmd-secondary-workup" not in rule_ids
    f = finding(b)
    assert f is not None
    assert f.indicator == "info"


def test_v41_untreated_patient_gets_no_monitoring_card() -> None:
    b = (
        a_patient(76, "female")
        .dxa("T", "LS", -2.1, days_ago=60)
        .dxa("T", "FN", -2.3, days_ago=60)
        .condition("M80.08XA")
    )
    assert RULE not in fired(b)
