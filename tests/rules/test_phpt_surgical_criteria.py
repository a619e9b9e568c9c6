"""A6 `phpt-surgical-criteria`: each Workshop criterion at its edge, each missing item, the radius trap."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from rules.engine import evaluate, suppress
from rules.findings import Finding, Indicator
from rules.parathyroid.phpt_surgical_criteria import RULE
from rules.snapshot import DxaScore, DxaSite, PatientSnapshot
from tests.builders import PatientBuilder, T, a_patient

EGFR_UNIT = "mL/min/{1.73_m2}"
UCA_UNIT = "mg/(24.h)"


def first(snapshot: PatientSnapshot) -> Finding | None:
    result = evaluate(snapshot, rules=[RULE])
    assert result.failures == ()
    return result.findings[0] if result.findings else None


def finding(builder: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    return first(builder.snapshot(hook))


def phpt(
    age: int | None = 60,
    sex: str = "female",
    *,
    ca: float | None = 10.6,
    t_ls: float | None = -1.5,
    t_rad: float | None = -1.5,
    dxa_days_ago: float = 300,
    egfr: float | None = 75,
    egfr_days_ago: float = 30,
    uca: float | None = 200,
    uca_days_ago: float = 100,
) -> PatientBuilder:
    """Active PHPT with a complete work-up meeting no criterion unless a value is changed."""
    p = a_patient(age, sex).condition("E21.0")
    if ca is not None:
        p = p.lab("CA", ca, "mg/dL", days_ago=20).lab("ALB", 4.0, "g/dL", days_ago=20)
    if t_ls is not None:
        p = p.dxa("T", "LS", t_ls, days_ago=dxa_days_ago)
    if t_rad is not None:
        p = p.dxa("T", "RAD", t_rad, days_ago=dxa_days_ago)
    if egfr is not None:
        p = p.lab("EGFR", egfr, EGFR_UNIT, days_ago=egfr_days_ago)
    if uca is not None:
        p = p.lab("UCA24", uca, UCA_UNIT, days_ago=uca_days_ago)
    return p


def criteria(f: Finding | None) -> set[str]:
    assert f is not None
    assert f.variant == "criteria-met"
    assert f.indicator == "warning"
    return set(f.data["criteria"].split(","))


def test_complete_workup_meeting_no_criterion_gives_no_card() -> None:
    assert finding(phpt()) is None


# ---- criteria ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("ca", "met"), [(11.2, False), (11.21, True)])
def test_calcium_more_than_1_mg_dl_above_the_uln(ca: float, met: bool) -> None:
    f = finding(phpt(ca=ca))
    assert (f is not None) is met
    if met:
        assert criteria(f) == {"Ca>ULN+1"}


@pytest.mark.parametrize(("ca_mmol", "met"), [(2.79, False), (2.80, True)])  # 11.18 / 11.22 mg/dL
def test_calcium_criterion_in_mmol_per_litre(ca_mmol: float, met: bool) -> None:
    p = phpt(ca=None).lab("CA_MOL", ca_mmol, "mmol/L", days_ago=20).lab("ALB", 40, "g/L", days_ago=20)
    assert (finding(p) is not None) is met


@pytest.mark.parametrize(("ica", "met"), [(1.44, False), (1.45, True)])
def test_ionized_calcium_more_than_0_12_mmol_l_above_its_uln(ica: float, met: bool) -> None:
    f = finding(phpt(ca=None).lab("ICA", ica, "mmol/L", days_ago=20))
    assert (f is not None) is met
    if met:
        assert criteria(f) == {"Ca>ULN+1"}


@pytest.mark.parametrize(("ca", "met"), [(11.5, False), (11.51, True)])
def test_calcium_criterion_uses_the_labs_own_uln(ca: float, met: bool) -> None:
    p = (
        phpt(ca=None)
        .lab("CA", ca, "mg/dL", days_ago=20, ref=(8.5, 10.5))
        .lab("ALB", 4.0, "g/dL", days_ago=20)
    )
    assert (finding(p) is not None) is met


def test_uncorrected_calcium_counts_for_the_calcium_criterion() -> None:
    assert criteria(finding(phpt(ca=None).lab("CA", 11.3, "mg/dL", days_ago=20))) == {"Ca>ULN+1"}


@pytest.mark.parametrize(
    ("t_ls", "t_rad", "met"),
    [(-2.4, -1.0, False), (-2.5, -1.0, True), (-1.0, -2.5, True), (-1.0, -2.4, False)],
)
def test_t_score_at_or_below_minus_2_5_at_any_site(t_ls: float, t_rad: float, met: bool) -> None:
    f = finding(phpt(t_ls=t_ls, t_rad=t_rad))
    assert (f is not None) is met
    if met:
        assert criteria(f) == {"T≤-2.5"}


@pytest.mark.parametrize(("site", "met"), [("TH", True), ("FN", True)])
def test_hip_and_femoral_neck_t_scores_count(site: str, met: bool) -> None:
    assert (finding(phpt().dxa("T", site, -2.6, days_ago=50)) is not None) is met


def test_a_z_score_is_not_a_t_score() -> None:
    assert finding(phpt().dxa("Z", "LS", -3.0, days_ago=50)) is None


@pytest.mark.parametrize("code", ["M80.08XA", "Z87.310", "M48.50XA"])
@pytest.mark.parametrize("active", [True, False])
def test_vertebral_or_fragility_fracture_history(code: str, active: bool) -> None:
    assert criteria(finding(phpt().condition(code, active=active))) == {"vertebral/fragility fx"}


@pytest.mark.parametrize(("egfr", "met"), [(59.9, True), (60, False)])
def test_egfr_below_60(egfr: float, met: bool) -> None:
    f = finding(phpt(egfr=egfr))
    assert (f is not None) is met
    if met:
        assert criteria(f) == {"eGFR<60"}


@pytest.mark.parametrize(
    ("sex", "uca", "unit", "met"),
    [
        ("female", 250, UCA_UNIT, False),
        ("female", 250.1, UCA_UNIT, True),
        ("male", 260, UCA_UNIT, False),
        ("male", 300, UCA_UNIT, False),
        ("male", 300.1, UCA_UNIT, True),
        ("unknown", 250, UCA_UNIT, False),
        ("unknown", 251, UCA_UNIT, True),  # sex unknown: the more sensitive 250 mg/d
        ("female", 6.2, "mmol/(24.h)", False),  # 248.5 mg/d
        ("female", 6.3, "mmol/(24.h)", True),  # 252.5 mg/d
    ],
)
def test_24_hour_urine_calcium_above_the_sex_specific_threshold(
    sex: str, uca: float, unit: str, met: bool
) -> None:
    p = phpt(sex=sex, uca=None).lab("UCA24", uca, unit, days_ago=100)
    f = finding(p)
    assert (f is not None) is met
    if met:
        assert criteria(f) == {"urine Ca high"}


@pytest.mark.parametrize(("code", "active"), [("N20.0", True), ("Z87.442", True), ("N20.0", False)])
def test_nephrolithiasis_history(code: str, active: bool) -> None:
    assert criteria(finding(phpt().condition(code, active=active))) == {"stones"}


@pytest.mark.parametrize(("age", "met"), [(49, True), (50, False), (None, False)])
def test_age_below_50(age: int | None, met: bool) -> None:
    f = finding(phpt(age=age))
    assert (f is not None) is met
    if met:
        assert criteria(f) == {"age<50"}


def test_all_criteria_are_listed_and_the_summary_stays_under_140() -> None:
    p = phpt(45, ca=11.6, t_ls=-2.8, egfr=50, uca=320).condition("M80.08XA").condition("N20.0")
    f = finding(p)
    assert len(criteria(f)) == 7
    assert f is not None
    assert len(f.summary) < 140
    assert f.summary.startswith("PHPT meets surgical criteria (Ca>ULN+1, T≤-2.5")
    assert "+3 more): consider parathyroidectomy referral." in f.summary
    assert "urine Ca high, stones, age<50" in f.detail


def test_criteria_met_card_suggests_referral_and_does_not_request_dxa() -> None:
    f = finding(phpt(age=45, t_ls=None, t_rad=None))
    assert f is not None
    assert f.variant == "criteria-met"
    assert "requests_dxa" not in f.data
    assert "t-score" in f.data["missing"]
    assert "Not yet assessed" in f.detail
    assert [s.kind for s in f.suggestions] == ["referral"]


# ---- missing data -----------------------------------------------------------------------------


def incomplete(f: Finding | None) -> set[str]:
    assert f is not None
    assert f.variant == "evaluation-incomplete"
    assert f.indicator == Indicator.INFO
    assert len(f.summary) < 140
    return set(f.data["missing"].split(","))


def test_no_dxa_at_all_requests_a_full_dxa_with_the_radius() -> None:
    f = finding(phpt(t_ls=None, t_rad=None))
    assert incomplete(f) == {"t-score", "radius-t-score"}
    assert f is not None
    assert f.data["requests_dxa"] == "true"
    assert "DXA incl. 1/3 radius" in f.summary
    assert any("1/3 radius" in s.label for s in f.suggestions)


def test_spine_without_radius_asks_for_the_radius() -> None:
    f = finding(phpt(t_rad=None))
    assert incomplete(f) == {"radius-t-score"}
    assert f is not None
    assert f.data["requests_dxa"] == "true"
    assert "1/3 radius T-score" in f.summary


@pytest.mark.parametrize(("dxa_days_ago", "complete"), [(1095, True), (1096, False)])
def test_dxa_older_than_1095_days_is_missing(dxa_days_ago: float, complete: bool) -> None:
    f = finding(phpt(dxa_days_ago=dxa_days_ago))
    assert (f is None) is complete
    if not complete:
        assert incomplete(f) == {"t-score", "radius-t-score"}


def test_an_old_low_t_score_is_not_a_criterion() -> None:
    f = finding(phpt(t_ls=-3.0, dxa_days_ago=1096))
    assert incomplete(f) == {"t-score", "radius-t-score"}


def radius_contradicted(snapshot: PatientSnapshot) -> PatientSnapshot:
    scores = tuple(
        dataclasses.replace(d, radius_contradicted=True) if d.site is DxaSite.RAD else d
        for d in snapshot.dxa_scores
    )
    return dataclasses.replace(snapshot, dxa_scores=scores)


def test_a_synthea_radius_code_contradicted_by_body_site_is_not_a_radius_measurement() -> None:
    f = first(radius_contradicted(phpt(t_ls=None).snapshot()))
    assert incomplete(f) == {"radius-t-score"}
    assert f is not None
    assert f.data["requests_dxa"] == "true"


def test_a_contradicted_radius_code_still_counts_as_a_low_t_score() -> None:
    f = first(radius_contradicted(phpt(t_ls=None, t_rad=-2.7).snapshot()))
    assert criteria(f) == {"T≤-2.5"}


def test_a_left_radius_t_score_alone_satisfies_both_dxa_items() -> None:
    score = DxaScore("Observation/rad", "T", DxaSite.RAD, -1.2, T - timedelta(days=10), "80944-2", "1")
    snapshot = dataclasses.replace(phpt(t_ls=None, t_rad=None).snapshot(), dxa_scores=(score,))
    assert first(snapshot) is None


@pytest.mark.parametrize(("egfr_days_ago", "complete"), [(365, True), (366, False)])
def test_egfr_older_than_365_days_is_missing(egfr_days_ago: float, complete: bool) -> None:
    f = finding(phpt(egfr_days_ago=egfr_days_ago))
    assert (f is None) is complete
    if not complete:
        assert incomplete(f) == {"egfr"}
        assert f is not None
        assert f.data["requests_dxa"] == "false"
        assert "2160-0" in {s.code for s in f.suggestions}


def test_an_egfr_computed_from_creatinine_counts() -> None:
    assert finding(phpt(egfr=None).lab("CREAT", 0.8, "mg/dL", days_ago=30)) is None


@pytest.mark.parametrize(("uca_days_ago", "complete"), [(730, True), (731, False)])
def test_urine_calcium_older_than_730_days_is_missing(uca_days_ago: float, complete: bool) -> None:
    f = finding(phpt(uca_days_ago=uca_days_ago))
    assert (f is None) is complete
    if not complete:
        assert incomplete(f) == {"urine-ca-24h"}
        assert f is not None
        assert "6874-2" in {s.code for s in f.suggestions}


def test_everything_missing_is_listed_within_140_characters() -> None:
    f = finding(phpt(ca=None, t_ls=None, t_rad=None, egfr=None, uca=None))
    assert incomplete(f) == {"t-score", "radius-t-score", "egfr", "urine-ca-24h"}
    assert f is not None
    assert "renal imaging" in " ".join(s.label.lower() for s in f.suggestions)
    assert "No calcium within 90 days" in f.detail


# ---- exclusions, hooks, suppression, vignettes ------------------------------------------------


def test_an_inactive_phpt_condition_gives_no_card() -> None:
    p = a_patient(45).condition("E21.0", active=False).lab("CA", 11.6, "mg/dL", days_ago=20)
    assert finding(p) is None


def test_no_phpt_condition_gives_no_card() -> None:
    assert finding(a_patient(45).lab("CA", 11.6, "mg/dL", days_ago=20)) is None


@pytest.mark.parametrize(("hook", "fires"), [("batch", True), ("patient-view", True), ("background", False)])
def test_runs_on_patient_view_and_batch(hook: str, fires: bool) -> None:
    assert (finding(phpt(age=45), hook) is not None) is fires


def test_the_dxa_requesting_variant_suppresses_the_generic_screening_card() -> None:
    f = finding(phpt(67, t_ls=None, t_rad=None))
    assert f is not None
    screening = Finding("osteoporosis-screening-due", Indicator.INFO, "s", "d")
    kept, dropped = suppress([f, screening])
    assert kept == [f]
    assert dropped == ["osteoporosis-screening-due"]


def test_the_egfr_only_variant_does_not_suppress_generic_dxa_cards() -> None:
    f = finding(phpt(egfr=None))
    assert f is not None
    screening = Finding("osteoporosis-screening-due", Indicator.INFO, "s", "d")
    assert suppress([f, screening])[1] == []


V01 = (
    a_patient(62)
    .lab("CA", 11.2, "mg/dL", days_ago=10)
    .lab("ALB", 4.1, "g/dL", days_ago=10)
    .lab("PTH", 98, "pg/mL", days_ago=10)
    .dxa("T", "LS", -1.8, days_ago=200)
    .dxa("T", "RAD", -2.1, days_ago=200)
)
V02 = (
    a_patient(58)
    .lab("CA", 11.6, "mg/dL", days_ago=20)
    .lab("ALB", 4, "g/dL", days_ago=20)
    .lab("PTH", 120, "pg/mL", days_ago=20)
    .lab("EGFR", 72, EGFR_UNIT, days_ago=20)
    .lab("VITD", 34, "ng/mL", days_ago=20)
    .lab("PO4", 2.3, "mg/dL", days_ago=20)
    .lab("UCA24", 310, UCA_UNIT, days_ago=100)
    .dxa("T", "LS", -1.7, days_ago=300)
    .dxa("T", "TH", -1.4, days_ago=300)
    .dxa("T", "FN", -1.6, days_ago=300)
    .dxa("T", "RAD", -1.9, days_ago=300)
    .condition("E21.0")
)
V03 = (
    a_patient(67)
    .lab("CA", 10.6, "mg/dL", days_ago=30)
    .lab("ALB", 4, "g/dL", days_ago=30)
    .lab("PTH", 80, "pg/mL", days_ago=30)
    .lab("EGFR", 75, EGFR_UNIT, days_ago=30)
    .lab("VITD", 35, "ng/mL", days_ago=30)
    .lab("PO4", 2.6, "mg/dL", days_ago=30)
    .condition("E21.0")
)


def test_v01_no_phpt_diagnosis_no_card() -> None:
    assert finding(V01) is None


def test_v02_known_phpt_meets_calcium_and_hypercalciuria_criteria() -> None:
    assert criteria(finding(V02)) == {"Ca>ULN+1", "urine Ca high"}


def test_v03_mild_phpt_without_dxa_or_urine_is_incomplete_and_requests_dxa() -> None:
    f = finding(V03)
    assert incomplete(f) == {"t-score", "radius-t-score", "urine-ca-24h"}
    assert f is not None
    assert f.data["requests_dxa"] == "true"
