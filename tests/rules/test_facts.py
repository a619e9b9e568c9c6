"""Derived facts: eGFR (incl. CKD-EPI 2021), CKD stage, medication exposure (RULES.md 1.3, 3.5, 3.6)."""

from __future__ import annotations

import pytest

from rules.facts import Facts, ckd_epi_2021
from rules.params import Parameters
from tests.builders import PatientBuilder, a_patient


def facts_of(builder: PatientBuilder, hook: str = "patient-view") -> Facts:
    return Facts(builder.snapshot(hook), Parameters())


@pytest.mark.parametrize(
    ("scr", "age", "sex", "expected"),
    [(1.0, 60, "female", 64.5), (1.0, 50, "male", 91.7), (0.6, 40, "female", 115.8)],
)
def test_ckd_epi_2021_matches_published_calculator_values(
    scr: float, age: int, sex: str, expected: float
) -> None:
    value = ckd_epi_2021(scr, age, sex)
    assert value is not None and value == pytest.approx(expected, abs=0.6)


def test_ckd_epi_is_not_computed_without_a_known_sex() -> None:
    assert ckd_epi_2021(1.0, 60, "unknown") is None


def test_egfr_is_computed_from_creatinine_only_when_no_egfr_is_reported() -> None:
    only_creat = facts_of(a_patient(60, "female").lab("CREAT", 1.0, "mg/dL", days_ago=10))
    egfr = only_creat.latest_egfr()
    assert egfr is not None and egfr.computed and egfr.value == pytest.approx(64.5, abs=0.6)
    both = (
        a_patient(60, "female")
        .lab("CREAT", 1.0, "mg/dL", days_ago=10)
        .lab("EGFR", 70, "mL/min/{1.73_m2}", days_ago=20)
    )
    reported = facts_of(both).latest_egfr()
    assert reported is not None and not reported.computed and reported.value == 70


def test_same_draw_egfr_prefers_ckd_epi_2021_over_mdrd() -> None:
    p = (
        a_patient()
        .lab("EGFR_MDRD", 50, "mL/min/{1.73_m2}", days_ago=5)
        .lab("EGFR", 58, "mL/min/{1.73_m2}", days_ago=5)
    )
    egfr = facts_of(p).latest_egfr()
    assert egfr is not None and egfr.value == 58


@pytest.mark.parametrize(
    ("latest", "earlier", "earlier_days", "stage"),
    [
        (38, 41, 200, "G3b"),
        (22, 25, 150, "G4"),
        (50, 55, 110, "G3a"),
        (12, 14, 120, "G5"),
        (38, 41, 109, None),  # second eGFR < 60 only 89 days earlier
        (38, 65, 200, None),  # earlier eGFR not < 60
    ],
)
def test_ckd_stage_needs_two_egfrs_below_60_at_least_90_days_apart(
    latest: float, earlier: float, earlier_days: int, stage: str | None
) -> None:
    p = (
        a_patient()
        .lab("EGFR", latest, "mL/min/{1.73_m2}", days_ago=20)
        .lab("EGFR", earlier, "mL/min/{1.73_m2}", days_ago=earlier_days)
    )
    assert facts_of(p).ckd_stage == stage


@pytest.mark.parametrize(
    ("latest", "earlier", "earlier_days", "stage"),
    [
        (1.1, 1.2, 200, "G3a"),
        (1.6, 1.5, 200, "G3b"),
        (2.4, 2.2, 150, "G4"),
        (1.6, 1.5, 60, None),
        (1.6, 0.8, 200, None),
    ],
)
@pytest.mark.parametrize("series_first", [False, True])
def test_ckd_stage_from_creatinine_alone_follows_the_same_two_draws_rule(
    latest: float, earlier: float, earlier_days: int, stage: str | None, series_first: bool
) -> None:
    """eGFRs computed from creatinine (CKD-EPI 2021) stage CKD as reported ones do, whether or not a
    rule has already asked for the two-year eGFR series (`series_first`: it is then reused)."""
    p = (
        a_patient(70, "female")
        .lab("CREAT", latest, "mg/dL", days_ago=20)
        .lab("CREAT", earlier, "mg/dL", days_ago=earlier_days)
    )
    facts = facts_of(p)
    if series_first:
        assert facts.latest_egfr(730) is not None
    assert facts.ckd_stage == stage


@pytest.mark.parametrize(("age", "sex"), [(None, "female"), (70, "unknown")])
def test_creatinine_stages_no_ckd_when_its_egfr_cannot_be_computed(age: int | None, sex: str) -> None:
    p = a_patient(age, sex).lab("CREAT", 2.4, "mg/dL", days_ago=20).lab("CREAT", 2.2, "mg/dL", days_ago=150)
    assert facts_of(p).ckd_stage is None


def test_dialysis_condition_makes_g5d_and_a_staged_condition_stands_in_for_egfr_history() -> None:
    assert facts_of(a_patient().condition("Z99.2")).ckd_stage == "G5D"
    assert facts_of(a_patient().condition("N18.32")).ckd_stage == "G3b"
    assert facts_of(a_patient().condition("N18.4", active=False)).ckd_stage is None


@pytest.mark.parametrize(("ended", "within"), [(365, True), (366, False)])
def test_completed_medication_counts_within_w_days_of_its_end(ended: int, within: bool) -> None:
    p = a_patient().med("alendronate", since_days=800, status="completed", ended_days_ago=ended)
    facts = facts_of(p)
    assert bool(facts.exposures("OP_THERAPY", 365)) is within
    assert facts.on_op_therapy is within


def test_zoledronic_acid_counts_as_therapy_for_three_years() -> None:
    p = a_patient().med("zoledronic acid", since_days=1000, status="completed", ended_days_ago=1000)
    assert facts_of(p).on_op_therapy


def test_non_order_intents_are_not_current() -> None:
    plan = a_patient().med("prednisone", since_days=10, intent="plan")
    assert facts_of(plan).current("GC") == []
    order = a_patient().med("prednisone", since_days=10)
    assert len(facts_of(order).current("GC")) == 1


def test_episode_start_bridges_gaps_of_up_to_30_days() -> None:
    p = (
        a_patient()
        .med("anastrozole", since_days=400, status="completed", ended_days_ago=200)
        .med("letrozole", since_days=170)
    )
    facts = facts_of(p)
    start = facts.episode_start(facts.medications("AI"))
    assert start == facts.at.replace() - (facts.at - facts.s.medications[0].start)  # type: ignore[operator]
    gap = (
        a_patient()
        .med("anastrozole", since_days=400, status="completed", ended_days_ago=200)
        .med("letrozole", since_days=169)
    )
    gap_facts = facts_of(gap)
    assert gap_facts.episode_start(gap_facts.medications("AI")) == gap_facts.s.medications[1].start
