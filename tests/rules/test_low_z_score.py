"""C2 `low-z-score`: the −2.0 threshold, the 730-day window, the Z-score population, hooks."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from functools import partial

import pytest

from rules.bone_density import low_z_score as rule
from rules.facts import Facts
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS
from rules.snapshot import DxaScore, DxaSite
from tests.builders import PatientBuilder, T, a_patient
from tests.rules.helpers import rule_ids_fired

RULE = rule.RULE_ID


def finding(b: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    return rule.evaluate(Facts(b.snapshot(hook), DEFAULT_PARAMETERS), DEFAULT_PARAMETERS)


fired = partial(rule_ids_fired, rule=RULE)


@pytest.mark.parametrize(("z", "fires"), [(-1.99, False), (-2.0, True), (-2.4, True)])
def test_fires_at_or_below_minus_two(z: float, fires: bool) -> None:
    f = finding(a_patient(38, "female").dxa("Z", "LS", z, days_ago=20))
    assert (f is not None) is fires
    if f is not None:
        assert f.indicator == "warning"


@pytest.mark.parametrize(("days_ago", "fires"), [(730, True), (731, False)])
def test_z_scores_count_within_730_days(days_ago: int, fires: bool) -> None:
    assert (finding(a_patient(40, "male").dxa("Z", "FN", -2.5, days_ago=days_ago)) is not None) is fires


@pytest.mark.parametrize("site", ["LS", "TH", "FN", "RAD"])
def test_every_diagnostic_site_counts(site: str) -> None:
    assert finding(a_patient(40, "male").dxa("Z", site, -2.1, days_ago=10)) is not None


def test_a_z_score_at_an_unspecified_site_does_not_count() -> None:
    snap = a_patient(40, "male").snapshot()
    score = DxaScore("Observation/z1", "Z", DxaSite.OTHER, -3.0, T - timedelta(days=10))
    snap = dataclasses.replace(snap, dxa_scores=(score,))
    assert rule.evaluate(Facts(snap, DEFAULT_PARAMETERS), DEFAULT_PARAMETERS) is None


@pytest.mark.parametrize(
    ("years_at_dxa", "fires"),
    [(49, True), (50, False)],
)
def test_only_scores_measured_before_age_50_count(years_at_dxa: int, fires: bool) -> None:
    # Born so that the DXA (400 days ago) falls 10 days after, or 10 days before, the 50th birthday.
    dxa_day = (T - timedelta(days=400)).date()
    fiftieth = dxa_day + timedelta(days=10) if years_at_dxa == 49 else dxa_day - timedelta(days=10)
    born = date(fiftieth.year - 50, fiftieth.month, fiftieth.day)
    b = a_patient(None, "male", birth_date=born).dxa("Z", "LS", -2.3, days_ago=400)
    assert (finding(b) is not None) is fires


def test_a_patient_now_51_with_a_dxa_at_49_still_fires() -> None:
    born = (T - timedelta(days=365 * 51 + 20)).date()
    b = a_patient(None, "female", birth_date=born).dxa("Z", "LS", -2.2, days_ago=700)
    assert finding(b) is not None


@pytest.mark.parametrize(
    ("age", "sex", "menopause", "fires"),
    [
        (45, "female", False, True),
        (45, "female", True, False),  # postmenopausal proxy: T-scores apply
        (45, "male", False, True),
        (45, "unknown", False, True),
        (None, "female", False, False),  # unknown age: the age test is false (1.1)
        (55, "female", False, False),
        (55, "male", False, False),
    ],
)
def test_only_the_z_score_population_is_covered(
    age: int | None, sex: str, menopause: bool, fires: bool
) -> None:
    b = a_patient(age, sex).dxa("Z", "LS", -2.5, days_ago=30)
    if menopause:
        b.condition("N95.1")
    assert (finding(b) is not None) is fires


def test_t_scores_never_trigger_it() -> None:
    assert finding(a_patient(38, "female").dxa("T", "LS", -3.1, days_ago=20)) is None


def test_summary_names_the_lowest_z_score_and_its_site() -> None:
    b = (
        a_patient(38, "female")
        .dxa("Z", "LS", -2.1, days_ago=20)
        .dxa("Z", "FN", -2.7, days_ago=20)
        .dxa("Z", "TH", -1.5, days_ago=20)
    )
    f = finding(b)
    assert f is not None
    assert "Z-score -2.7 at femoral neck" in f.summary
    assert len(f.summary) < 140
    assert {e.label for e in f.evidence} == {"DXA Z-score LS", "DXA Z-score FN"}


@pytest.mark.parametrize(("sex", "hormones"), [("male", "testosterone"), ("female", "estradiol")])
def test_suggests_the_secondary_cause_evaluation(sex: str, hormones: str) -> None:
    f = finding(a_patient(40, sex).dxa("Z", "LS", -2.5, days_ago=30))
    assert f is not None
    codes = {s.code for s in f.suggestions}
    assert {"17861-6", "1751-7", "2777-1", "2160-0", "62292-8", "2731-8", "3016-3", "6874-2"} <= codes
    assert any(hormones in s.label for s in f.suggestions)
    assert any("coeliac" in s.label for s in f.suggestions)


def test_current_bone_harming_medications_are_named_for_review() -> None:
    b = a_patient(40, "female").dxa("Z", "LS", -2.5, days_ago=30)
    b.med("prednisone", since_days=200, dose_mg=10).med("omeprazole", since_days=300)
    f = finding(b)
    assert f is not None
    assert "current: omeprazole, prednisone" in f.detail


@pytest.mark.parametrize(
    ("hook", "fires"),
    [("patient-view", True), ("background", True), ("batch", False), ("order-sign", False)],
)
def test_runs_on_patient_view_and_background_only(hook: str, fires: bool) -> None:
    b = a_patient(38, "female").dxa("Z", "LS", -2.4, days_ago=20)
    assert (RULE in fired(b, hook)) is fires


def test_v26_premenopausal_woman_with_z_minus_2_4_fires_and_her_t_score_is_ignored() -> None:
    b = (
        a_patient(38, "female")
        .dxa("Z", "LS", -2.4, days_ago=20)
        .dxa("T", "LS", -2.6, days_ago=20)
        .dxa("Z", "TH", -1.5, days_ago=20)
    )
    rule_ids = fired(b)
    assert RULE in rule_ids
    assert "low-bmd-secondary-workup" not in rule_ids
    assert "osteoporosis-untreated" not in rule_ids
    f = finding(b)
    assert f is not None
    assert "-2.4" in f.summary
    assert "lumbar spine" in f.summary
