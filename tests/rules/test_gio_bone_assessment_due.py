"""C4 `gio-bone-assessment-due`: dose, duration, route, DXA-due edges, hooks and indicators."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest

from rules.bone_density import gio_bone_assessment_due as rule
from rules.facts import Facts
from rules.params import DEFAULT_PARAMETERS
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import findings_by_rule, run_rule

RULE = rule.RULE_ID


run = partial(run_rule, rule.RULE)
engine = partial(findings_by_rule, rule=RULE)


def on_gc(
    ingredient: str = "prednisone",
    dose: float | None = 10.0,
    *,
    per_day: float = 1.0,
    route: str | None = "oral",
) -> PatientBuilder:
    """A 58-year-old man on a glucocorticoid for 120 days, no DXA."""
    return a_patient(58, "male").med(ingredient, since_days=120, dose_mg=dose, per_day=per_day, route=route)


def draft(
    ingredient: str = "prednisone",
    dose: float | None = 10.0,
    planned: float | None = 90.0,
    *,
    route: str | None = "oral",
) -> PatientBuilder:
    """A 45-year-old woman with a draft glucocorticoid order, no DXA."""
    return a_patient(45, "female").med(
        ingredient, dose_mg=dose, draft=True, planned_days=planned, route=route
    )


# ---- dose: daily prednisone-equivalent ≥ GC_DOSE (2.5 mg) ---------------------------------------
@pytest.mark.parametrize(
    ("ingredient", "dose", "per_day", "fires"),
    [
        ("prednisone", 2.5, 1, True),
        ("prednisone", 2.49, 1, False),
        ("prednisone", 2.0, 1, False),  # V21
        ("prednisone", 1.25, 2, True),  # daily dose = dose × administrations per day
        ("prednisolone", 2.5, 1, True),
        ("hydrocortisone", 10.0, 1, True),  # × 0.25 = 2.5
        ("hydrocortisone", 9.9, 1, False),
        ("methylprednisolone", 2.0, 1, True),  # × 1.25 = 2.5
        ("methylprednisolone", 1.9, 1, False),
        ("dexamethasone", 0.375, 1, True),  # × 6.67 = 2.50125
        ("dexamethasone", 0.37, 1, False),
        ("dexamethasone", 0.5, 1, True),  # V20: 3.33 mg PE
        ("deflazacort", 3.02, 1, True),  # × 0.83 = 2.5066
        ("deflazacort", 3.0, 1, False),  # × 0.83 = 2.49
    ],
)
def test_fires_only_at_a_daily_prednisone_equivalent_of_at_least_2_5_mg(
    ingredient: str, dose: float, per_day: float, fires: bool
) -> None:
    assert (run(on_gc(ingredient, dose, per_day=per_day)) is not None) is fires


def test_gc_dose_parameter_moves_the_threshold_and_the_summary() -> None:
    params = DEFAULT_PARAMETERS.with_overrides({"GC_DOSE": 5})
    assert run(on_gc(dose=4.9), params=params) is None
    finding = run(on_gc(dose=5), params=params)
    assert finding is not None
    assert "≥5 mg/day" in finding.summary


# ---- duration: ≥ 90 distinct days within the last 180 ------------------------------------------
@pytest.mark.parametrize(
    ("since", "fires"),
    [(88, False), (89, True), (120, True)],  # since d−89 covers 90 calendar days including today
)
def test_current_exposure_needs_90_covered_days(since: int, fires: bool) -> None:
    b = a_patient(58, "male").med("prednisone", since_days=since, dose_mg=10)
    assert (run(b) is not None) is fires


@pytest.mark.parametrize(
    ("start", "end", "fires"),
    [
        (170, 81, True),  # a completed course of exactly 90 days inside the window
        (170, 82, False),  # 89 days
        (300, 90, True),  # began before the window: only d−180..d−90 (91 days) count
        (400, 181, False),  # ended before the window
    ],
)
def test_recent_completed_courses_count_only_for_their_days_in_the_window(
    start: int, end: int, fires: bool
) -> None:
    b = a_patient(58, "male").med(
        "prednisone", since_days=start, dose_mg=10, status="completed", ended_days_ago=end
    )
    assert (run(b) is not None) is fires


def test_separate_courses_add_up_by_distinct_days() -> None:
    b = (
        a_patient(58, "male")
        .med("prednisone", since_days=170, dose_mg=10, status="completed", ended_days_ago=126)
        .med("prednisolone", since_days=60, dose_mg=10, status="stopped", ended_days_ago=16)
    )
    assert run(b) is not None  # 45 + 45 days


def test_overlapping_records_are_not_counted_twice() -> None:
    b = (
        a_patient(58, "male")
        .med("prednisone", since_days=80, dose_mg=10)
        .med("prednisone", since_days=80, dose_mg=10, source="statement")
    )
    assert run(b) is None  # 81 distinct days, not 162


def test_records_that_are_not_orders_or_were_cancelled_do_not_count() -> None:
    b = (
        a_patient(58, "male")
        .med("prednisone", since_days=120, dose_mg=10, intent="plan")
        .med("prednisone", since_days=120, dose_mg=10, status="cancelled")
    )
    assert run(b) is None


# ---- route and ingredient exclusions -----------------------------------------------------------
@pytest.mark.parametrize(
    ("route", "fires"),
    [
        ("oral", True),
        ("intravenous", True),
        ("intramuscular", True),
        ("subcutaneous", True),
        ("inhaled", False),
        ("nasal", False),
        ("topical", False),
        ("ophthalmic", False),
        ("otic", False),
        ("intra-articular", False),
        ("rectal", False),
        (None, False),  # route unknown: systemic route not established
    ],
)
def test_only_systemic_routes_count(route: str | None, fires: bool) -> None:
    assert (run(on_gc(route=route)) is not None) is fires


def test_fludrocortisone_never_counts() -> None:
    assert run(on_gc("fludrocortisone", 0.1)) is None


def test_fludrocortisone_never_counts_even_when_a_code_set_calls_it_a_glucocorticoid() -> None:
    snapshot = on_gc("fludrocortisone", 5.0).snapshot()
    med = replace(snapshot.medications[0], classes=frozenset({"GC"}), pe_factor=1.0)
    snapshot = replace(snapshot, medications=(med,))
    assert rule.evaluate(Facts(snapshot, DEFAULT_PARAMETERS), DEFAULT_PARAMETERS) is None


def test_inhaled_budesonide_and_low_dose_prednisone_do_not_fire_v21() -> None:
    b = (
        a_patient(52, "male")
        .med("budesonide", since_days=300, dose_mg=0.8, route="inhaled")
        .med("prednisone", since_days=200, dose_mg=2)
    )
    assert RULE not in engine(b)


# ---- uncertain dose: oral budesonide, unreadable dose -------------------------------------------
@pytest.mark.parametrize(
    ("ingredient", "dose", "phrase"),
    [
        ("budesonide", 9.0, "Dose equivalence uncertain"),
        ("prednisone", None, "could not be read"),
        ("budesonide", None, "could not be read"),
    ],
)
def test_uncertain_dose_counts_at_info_and_says_why(ingredient: str, dose: float | None, phrase: str) -> None:
    finding = run(on_gc(ingredient, dose))
    assert finding is not None
    assert finding.indicator == "info"
    assert phrase in finding.detail
    assert finding.data["dose"] == "uncertain"


def test_certain_exposure_alone_is_not_called_uncertain() -> None:
    b = on_gc().med("budesonide", since_days=120, dose_mg=9)
    finding = run(b)
    assert finding is not None
    assert finding.data["dose"] == "certain"
    assert "uncertain" not in finding.detail


def test_uncertain_records_that_complete_the_90_days_make_the_card_uncertain() -> None:
    b = (
        a_patient(58, "male")
        .med("prednisone", since_days=59, dose_mg=10)
        .med("budesonide", since_days=170, dose_mg=9, status="completed", ended_days_ago=131)
    )
    finding = run(b)
    assert finding is not None
    assert finding.data["dose"] == "uncertain"
    assert "Dose equivalence uncertain" in finding.detail


# ---- DXA due: latest DXA < max(S − 365 d, T − 730 d) -------------------------------------------
@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(730, False), (731, True)])
def test_long_standing_exposure_needs_a_dxa_within_730_days(dxa_days_ago: int, fires: bool) -> None:
    b = a_patient(58, "male").med("prednisone", since_days=2000, dose_mg=10)
    finding = run(b.dxa("T", "LS", -1.2, days_ago=dxa_days_ago))
    assert (finding is not None) is fires
    if finding is not None:
        assert "no DXA in 2 years" in finding.summary


@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(485, False), (486, True)])
def test_recent_episode_needs_a_dxa_from_within_a_year_before_it_started(
    dxa_days_ago: int, fires: bool
) -> None:
    b = on_gc().dxa_procedure(days_ago=dxa_days_ago)  # S = d−120, bound d−485
    finding = run(b)
    assert (finding is not None) is fires
    if finding is not None:
        assert "no DXA in the last 16 months" in finding.summary


@pytest.mark.parametrize(("gap_days", "fires"), [(25, False), (35, True)])
def test_gaps_up_to_30_days_keep_the_episode_and_its_earlier_start(gap_days: int, fires: bool) -> None:
    b = (
        a_patient(58, "male")
        .med("prednisone", since_days=700, dose_mg=10, status="completed", ended_days_ago=125 + gap_days)
        .med("prednisone", since_days=125, dose_mg=10)
        .dxa("T", "LS", -1.0, days_ago=600)
    )
    assert (run(b) is not None) is fires


def test_no_dxa_on_record_says_so() -> None:
    finding = run(on_gc())
    assert finding is not None
    assert "no DXA in the record" in finding.summary
    assert "No DXA" in finding.detail


# ---- order hooks: the draft order --------------------------------------------------------------
@pytest.mark.parametrize(
    ("dose", "planned", "fires"),
    [(10.0, 90.0, True), (10.0, 89.0, False), (2.5, 90.0, True), (2.4, 90.0, False)],
)
def test_draft_order_needs_2_5_mg_and_90_planned_days(dose: float, planned: float, fires: bool) -> None:
    finding = run(draft(dose=dose, planned=planned), "order-sign")
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.indicator == "warning"
        assert finding.data["exposure"] == "draft"


@pytest.mark.parametrize("route", ["inhaled", "topical", "intra-articular", None])
def test_draft_order_with_a_non_systemic_route_is_ignored(route: str | None) -> None:
    assert run(draft(route=route), "order-sign") is None


def test_draft_fludrocortisone_is_ignored() -> None:
    assert run(draft("fludrocortisone", dose=0.1), "order-sign") is None


@pytest.mark.parametrize(
    ("ingredient", "dose", "phrase"),
    [("budesonide", 9.0, "Dose equivalence uncertain"), ("prednisone", None, "could not be read")],
)
def test_uncertain_draft_dose_caps_the_order_hook_card_at_info(
    ingredient: str, dose: float | None, phrase: str
) -> None:
    finding = run(draft(ingredient, dose=dose), "order-select")
    assert finding is not None
    assert finding.indicator == "info"
    assert phrase in finding.detail


@pytest.mark.parametrize(("prior_since", "fires"), [(58, False), (59, True)])
def test_draft_without_duration_needs_60_days_of_exposure_in_the_last_90(
    prior_since: int, fires: bool
) -> None:
    b = draft(planned=None).med("prednisone", since_days=prior_since, dose_mg=10)
    finding = run(b, "order-sign")
    assert (finding is not None) is fires
    if finding is not None:
        assert finding.indicator == "warning"


def test_draft_without_duration_and_no_prior_exposure_is_ignored() -> None:
    assert run(draft(planned=None), "order-sign") is None


def test_draft_without_duration_resting_on_prior_budesonide_is_info() -> None:
    b = draft(planned=None).med("budesonide", since_days=70, dose_mg=9)
    finding = run(b, "order-sign")
    assert finding is not None
    assert finding.indicator == "info"


def test_a_certain_draft_wins_over_an_uncertain_one() -> None:
    b = draft("budesonide", dose=9.0).med("prednisone", dose_mg=20, draft=True, planned_days=180)
    finding = run(b, "order-sign")
    assert finding is not None
    assert finding.indicator == "warning"


@pytest.mark.parametrize(("dxa_days_ago", "fires"), [(365, False), (366, True)])
def test_new_draft_needs_a_dxa_within_the_last_12_months(dxa_days_ago: int, fires: bool) -> None:
    finding = run(draft().dxa("T", "LS", -1.0, days_ago=dxa_days_ago), "order-sign")
    assert (finding is not None) is fires
    if finding is not None:
        assert "no DXA in the last 12 months" in finding.summary


def test_draft_continuing_a_current_episode_keeps_the_episode_start() -> None:
    # On prednisone for years with a DXA 500 days ago: monitoring interval (2 y) still met.
    b = draft().med("prednisone", since_days=1000, dose_mg=10).dxa("T", "LS", -1.0, days_ago=500)
    assert run(b, "order-sign") is None
    assert run(draft().dxa("T", "LS", -1.0, days_ago=500), "order-sign") is not None


def test_order_select_judges_only_the_selected_drafts() -> None:
    b = draft()
    selected = frozenset({b.snapshot("order-select").draft_orders[0].reference})
    assert run(b, "order-select", selections=frozenset()) is None
    assert run(b, "order-select", selections=selected) is not None


def test_order_hooks_judge_only_drafts_not_the_record() -> None:
    assert run(on_gc(), "order-sign") is None


def test_patient_view_ignores_draft_orders() -> None:
    assert run(draft()) is None


@pytest.mark.parametrize(("hook", "indicator"), [("patient-view", "info"), ("batch", "info")])
def test_record_based_card_is_info(hook: str, indicator: str) -> None:
    finding = run(on_gc(), hook)
    assert finding is not None
    assert finding.indicator == indicator
    assert finding.data["exposure"] == "record"


# ---- age, card content -------------------------------------------------------------------------
def test_under_18_never_fires() -> None:
    assert run(on_gc().but(age=17)) is None
    assert RULE not in engine(on_gc().but(age=17))
    assert run(on_gc().but(age=18)) is not None


def test_unknown_age_passes_the_adult_gate() -> None:
    assert run(on_gc().but(age=None)) is not None


@pytest.mark.parametrize(("age", "phrase"), [(39, "not validated under 40"), (40, "FRAX adjusted")])
def test_frax_advice_depends_on_age(age: int, phrase: str) -> None:
    finding = run(on_gc().but(age=age))
    assert finding is not None
    assert phrase in finding.detail


def test_card_cites_acr_and_suggests_dxa() -> None:
    finding = run(on_gc("dexamethasone", 0.5))
    assert finding is not None
    assert len(finding.summary) < 140
    assert finding.summary.startswith("Glucocorticoid ≥2.5 mg/day prednisone-equivalent for ≥3 months")
    assert any(s.code == "83311-1" for s in finding.suggestions)
    assert "10.1002/art.42646" in finding.detail
    assert "3.33 mg/day prednisone-equivalent" in finding.detail  # V20: 0.5 mg × 6.67


# ---- vignettes (section 9) ---------------------------------------------------------------------
def test_v19_order_sign_prednisone_draft_with_ra_warns() -> None:
    b = a_patient(45, "female").med("prednisone", dose_mg=10, draft=True, planned_days=90).condition("M06.9")
    found = engine(b, "order-sign")
    assert found[RULE].indicator == "warning"
    assert "bone-risk-condition-dxa-due" not in found


def test_v20_dexamethasone_0_5_mg_for_120_days_is_info() -> None:
    found = engine(a_patient(58, "male").med("dexamethasone", since_days=120, dose_mg=0.5))
    assert found[RULE].indicator == "info"


def test_v44_oral_budesonide_at_47_is_info_and_ibd_does_not_qualify_yet() -> None:
    b = a_patient(47, "male").med("budesonide", since_days=100, dose_mg=9).condition("K50.90")
    found = engine(b)
    assert found[RULE].indicator == "info"
    assert "Dose equivalence uncertain" in found[RULE].detail
    assert "bone-risk-condition-dxa-due" not in found


def test_not_evaluated_by_background_hook() -> None:
    assert RULE not in engine(on_gc(), "background")
