"""C6 `antiresorptive-hypocalcemia-risk`: problems, indicators, windows, drafts and selections."""

from __future__ import annotations

import pytest

from rules.bone_density import antiresorptive_hypocalcemia_risk as rule
from rules.facts import Facts
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS
from tests.builders import PatientBuilder, a_patient
from tests.rules.helpers import rule_ids_fired, vignette_patient

RULE = rule.RULE_ID
EGFR_UNIT = "mL/min/{1.73_m2}"


def finding(
    b: PatientBuilder, hook: str = "order-sign", selections: frozenset[str] | None = None
) -> Finding | None:
    return rule.evaluate(Facts(b.snapshot(hook, selections), DEFAULT_PARAMETERS), DEFAULT_PARAMETERS)


def fired(
    b: PatientBuilder, hook: str = "order-sign", selections: frozenset[str] | None = None
) -> frozenset[str]:
    return rule_ids_fired(b, hook, selections, rule=RULE)  # this rule speaks at order entry


def drafts(b: PatientBuilder) -> list[str]:
    return [d.reference for d in b.snapshot("order-sign").draft_orders]


def safe_patient(
    *, ca: float | None = 9.4, egfr: float | None = 70, vitd: float | None = 34, days_ago: float = 10
) -> PatientBuilder:
    """A 78-year-old woman whose order-time checks pass unless a value is changed or left out."""
    b = a_patient(78, "female")
    if ca is not None:
        b.lab("CA", ca, "mg/dL", days_ago=days_ago).lab("ALB", 4.0, "g/dL", days_ago=days_ago)
    if egfr is not None:
        b.lab("EGFR", egfr, EGFR_UNIT, days_ago=days_ago)
    if vitd is not None:
        b.lab("VITD", vitd, "ng/mL", days_ago=days_ago)
    return b


@pytest.mark.parametrize(
    "drug", ["alendronate", "risedronate", "ibandronate", "zoledronic acid", "denosumab"]
)
def test_safe_patient_is_silent_for_every_antiresorptive(drug: str) -> None:
    assert finding(safe_patient().med(drug, draft=True)) is None


@pytest.mark.parametrize(("ca", "indicator"), [(8.6, None), (8.59, "critical"), (7.0, "critical")])
def test_low_calcium_is_critical(ca: float, indicator: str | None) -> None:
    f = finding(safe_patient(ca=ca).med("alendronate", draft=True))
    assert (f.indicator if f else None) == indicator
    if f is not None:
        assert "low calcium" in f.summary


def test_low_uncorrected_calcium_is_critical_and_asks_for_albumin() -> None:
    b = safe_patient(ca=None).lab("CA", 8.2, "mg/dL", days_ago=5).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert f.indicator == "critical"
    assert {"1751-7", "1994-3"} <= {s.code for s in f.suggestions}


@pytest.mark.parametrize(("days_ago", "missing"), [(90, False), (91, True)])
def test_calcium_must_be_within_90_days(days_ago: int, missing: bool) -> None:
    b = safe_patient(ca=None).lab("CA", 9.4, "mg/dL", days_ago=days_ago)
    b.lab("ALB", 4.0, "g/dL", days_ago=days_ago).med("alendronate", draft=True)
    f = finding(b)
    assert (f is not None) is missing
    if f is not None:
        assert f.indicator == "warning"
        assert "no calcium in 90 days" in f.summary
        assert {"17861-6", "1751-7"} <= {s.code for s in f.suggestions}


@pytest.mark.parametrize(
    ("drug", "egfr", "indicator"),
    [
        ("denosumab", 30, None),
        ("denosumab", 29.9, "critical"),
        ("zoledronic acid", 35, None),
        ("zoledronic acid", 34.9, "critical"),
        ("alendronate", 35, None),
        ("alendronate", 34.9, "warning"),
        ("risedronate", 30, None),
        ("risedronate", 29.9, "warning"),
        ("ibandronate", 30, None),
        ("ibandronate", 29.9, "warning"),
        ("risedronate", 32, None),
        ("denosumab", 32, None),
    ],
)
def test_renal_limits_per_drug(drug: str, egfr: float, indicator: str | None) -> None:
    f = finding(safe_patient(egfr=egfr).med(drug, draft=True))
    assert (f.indicator if f else None) == indicator
    if f is not None:
        assert f"eGFR {egfr:g}" in f.summary


@pytest.mark.parametrize(("days_ago", "indicator"), [(180, "critical"), (181, "warning")])
def test_egfr_counts_within_180_days_at_order_time(days_ago: int, indicator: str) -> None:
    b = safe_patient(egfr=None).lab("EGFR", 24, EGFR_UNIT, days_ago=days_ago)
    f = finding(b.med("denosumab", draft=True))
    assert f is not None
    assert f.indicator == indicator
    if indicator == "warning":
        assert "no eGFR in 180 days" in f.summary
        assert any(s.code == "2160-0" for s in f.suggestions)


def test_egfr_is_computed_from_creatinine_when_no_egfr_is_reported() -> None:
    # CKD-EPI 2021, woman 78, creatinine 2.0 mg/dL → 25.1 mL/min/1.73 m².
    b = safe_patient(egfr=None).lab("CREAT", 2.0, "mg/dL", days_ago=10)
    f = finding(b.med("denosumab", draft=True))
    assert f is not None
    assert f.indicator == "critical"
    assert "eGFR 25.1" in f.summary
    assert "CKD-EPI 2021" in f.detail


def test_creatinine_without_a_known_sex_gives_a_warning_not_silence() -> None:
    b = a_patient(78, "unknown").lab("CA", 9.4, "mg/dL", days_ago=10)
    b.lab("ALB", 4.0, "g/dL", days_ago=10).lab("VITD", 34, "ng/mL", days_ago=10)
    b.lab("CREAT", 2.0, "mg/dL", days_ago=10).med("denosumab", draft=True)
    f = finding(b)
    assert f is not None
    assert f.indicator == "warning"
    assert "eGFR not computable" in f.summary


@pytest.mark.parametrize(
    ("drug", "indicator"),
    [("denosumab", "critical"), ("zoledronic acid", "critical"), ("alendronate", "warning")],
)
def test_dialysis_counts_below_every_renal_limit(drug: str, indicator: str) -> None:
    b = safe_patient(egfr=50).condition("Z99.2").med(drug, draft=True)
    f = finding(b)
    assert f is not None
    assert f.indicator == indicator
    assert "dialysis" in f.summary


@pytest.mark.parametrize(
    ("vitd", "unit", "indicator", "shown"),
    [
        (20, "ng/mL", None, ""),
        (19.99, "ng/mL", "warning", "25-OH D 19.99 ng/mL"),
        (40, "nmol/L", "warning", "25-OH D 40 nmol/L"),  # 16.0 ng/mL
    ],
)
def test_vitamin_d_below_20_is_a_warning(vitd: float, unit: str, indicator: str | None, shown: str) -> None:
    b = safe_patient(vitd=None).lab("VITD_MOL" if unit == "nmol/L" else "VITD", vitd, unit, days_ago=5)
    f = finding(b.med("alendronate", draft=True))
    assert (f.indicator if f else None) == indicator
    if f is not None:
        assert shown in f.summary


@pytest.mark.parametrize(("days_ago", "indicator"), [(365, "warning"), (366, "info")])
def test_vitamin_d_counts_within_365_days(days_ago: int, indicator: str) -> None:
    b = safe_patient(vitd=None).lab("VITD", 15, "ng/mL", days_ago=days_ago)
    f = finding(b.med("alendronate", draft=True))
    assert f is not None
    assert f.indicator == indicator
    if indicator == "info":
        assert "no 25-OH D in 365 days" in f.summary
        assert any(s.code == "62292-8" for s in f.suggestions)


def test_vitamin_d3_and_d2_of_one_draw_are_summed() -> None:
    b = safe_patient(vitd=None).lab("VITD3", 10, "ng/mL", days_ago=5)
    b.lab("VITD2", 8, "ng/mL", days_ago=5).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert "25-OH D 18 ng/mL" in f.summary


def test_the_latest_vitamin_d_draw_decides() -> None:
    b = safe_patient(vitd=None).lab("VITD", 35, "ng/mL", days_ago=100)
    b.lab("VITD3", 15, "ng/mL", days_ago=5).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert "25-OH D 15 ng/mL" in f.summary


def test_a_d3_plus_d2_sum_reported_in_nmol_per_litre_is_shown_in_nmol_per_litre() -> None:
    b = safe_patient(vitd=None).lab("VITD3_MOL", 25, "nmol/L", days_ago=5)
    b.lab("VITD2", 15, "nmol/L", days_ago=5).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert "25-OH D 40 nmol/L" in f.summary  # 16.02 ng/mL


def test_vitamin_d3_and_d2_of_one_report_are_one_draw() -> None:
    b = safe_patient(vitd=None).lab("VITD3", 10, "ng/mL", days_ago=6, report="r1")
    b.lab("VITD2", 8, "ng/mL", days_ago=5, report="r1").med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert "25-OH D 18 ng/mL" in f.summary


@pytest.mark.parametrize(("egfr", "ca", "fires"), [(20, 9.4, False), (70, 8.0, True)])
def test_pamidronate_has_no_renal_limit_but_other_checks_apply(egfr: float, ca: float, fires: bool) -> None:
    assert (finding(safe_patient(egfr=egfr, ca=ca).med("pamidronate", draft=True)) is not None) is fires


@pytest.mark.parametrize(("days_ago", "suggested"), [(90, False), (91, True)])
def test_magnesium_and_phosphate_are_suggested_when_not_measured_within_90_days(
    days_ago: int, suggested: bool
) -> None:
    b = safe_patient(ca=8.0).lab("MG", 2.0, "mg/dL", days_ago=days_ago)
    b.lab("PO4", 3.5, "mg/dL", days_ago=days_ago).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    codes = {s.code for s in f.suggestions}
    assert ("19123-9" in codes) is suggested
    assert ("2777-1" in codes) is suggested


def test_indicator_is_the_highest_and_every_problem_is_listed() -> None:
    b = safe_patient(ca=8.0, egfr=33, vitd=None).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert f.indicator == "critical"
    assert f.data["problems"].split("|") == ["low calcium 8 mg/dL", "eGFR 33", "no 25-OH D in 365 days"]


def test_missing_everything_lists_each_missing_item_as_warning() -> None:
    f = finding(a_patient(70, "female").med("alendronate", draft=True))
    assert f is not None
    assert f.indicator == "warning"
    assert f.data["problems"].split("|") == [
        "no calcium in 90 days", "no eGFR in 180 days", "no 25-OH D in 365 days",
    ]  # fmt: skip
    assert {"17861-6", "1751-7", "2160-0", "62292-8", "19123-9", "2777-1"} <= {s.code for s in f.suggestions}


def test_card_offers_to_cancel_the_draft_and_names_the_egfr_proxy() -> None:
    b = safe_patient(egfr=20).med("denosumab", draft=True)
    f = finding(b)
    assert f is not None
    cancels = [s for s in f.suggestions if s.kind == "cancel-draft"]
    assert [s.resource for s in cancels] == drafts(b)
    assert "Cockcroft-Gault" in f.detail
    assert any(s.code == "2731-8" for s in f.suggestions)  # CKD-MBD evaluation before denosumab
    assert any(s.kind == "referral" for s in f.suggestions)


def test_only_drafts_with_a_problem_are_named_and_offered_for_cancellation() -> None:
    b = safe_patient(egfr=32).med("denosumab", draft=True).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert f.summary.startswith("Alendronate ordered despite eGFR 32")
    assert [s.resource for s in f.suggestions if s.kind == "cancel-draft"] == drafts(b)[1:]


def test_a_shared_problem_implicates_every_antiresorptive_draft() -> None:
    b = safe_patient(ca=8.0).med("denosumab", draft=True).med("alendronate", draft=True)
    f = finding(b)
    assert f is not None
    assert f.summary.startswith("Denosumab, alendronate ordered despite low calcium")
    assert len([s for s in f.suggestions if s.kind == "cancel-draft"]) == 2


@pytest.mark.parametrize("drug", ["teriparatide", "prednisone", "anastrozole"])
def test_non_antiresorptive_drafts_are_ignored(drug: str) -> None:
    assert finding(safe_patient(ca=7.5).med(drug, draft=True, dose_mg=10)) is None


def test_active_antiresorptive_without_a_draft_is_ignored() -> None:
    assert finding(safe_patient(ca=7.5).med("denosumab", since_days=100)) is None


@pytest.mark.parametrize(("selected", "fires"), [(True, True), (False, False)])
def test_order_select_only_checks_the_selected_drafts(selected: bool, fires: bool) -> None:
    b = safe_patient(ca=8.0).med("alendronate", draft=True)
    selections = frozenset(drafts(b) if selected else ["MedicationRequest/another-order"])
    assert (finding(b, "order-select", selections) is not None) is fires
    assert (RULE in fired(b, "order-select", selections)) is fires


def test_order_select_with_a_problem_only_on_the_unselected_draft_is_silent() -> None:
    # eGFR 32 is below the alendronate limit (35) but not the denosumab limit (30).
    b = safe_patient(egfr=32).med("alendronate", draft=True).med("denosumab", draft=True)
    alendronate, denosumab = drafts(b)
    assert finding(b, "order-select", frozenset({denosumab})) is None
    f = finding(b, "order-select", frozenset({alendronate}))
    assert f is not None
    assert f.summary.startswith("Alendronate ordered despite eGFR 32")


@pytest.mark.parametrize(
    ("hook", "fires"),
    [("order-sign", True), ("order-select", True), ("patient-view", False), ("batch", False)],
)
def test_runs_only_on_order_hooks(hook: str, fires: bool) -> None:
    b = safe_patient(ca=8.0).med("denosumab", draft=True)
    assert (finding(b, hook) is not None) is fires
    assert (RULE in fired(b, hook)) is fires


def test_summary_stays_under_140_characters() -> None:
    b = a_patient(70, "unknown").lab("CA", 7.0, "mg/dL", days_ago=3).lab("CREAT", 3, "mg/dL", days_ago=3)
    b.lab("VITD", 5, "ng/mL", days_ago=3).condition("Z99.2")
    for drug in ("zoledronic acid", "denosumab", "alendronate", "ibandronate"):
        b.med(drug, draft=True)
    f = finding(b)
    assert f is not None
    assert len(f.summary) < 140
    assert f.summary.endswith(": correct or review before signing.")


# ---- vignettes of RULES.md section 9 that involve C6 --------------------------------------------
def test_v23_denosumab_in_hypocalcaemic_ckd_g4_with_low_vitamin_d_is_critical() -> None:
    b = (
        a_patient(78, "female")
        .lab("CA", 8.1, "mg/dL", days_ago=10)
        .lab("ALB", 3.9, "g/dL", days_ago=10)
        .lab("EGFR", 24, EGFR_UNIT, days_ago=10)
        .lab("VITD", 16, "ng/mL", days_ago=10)
        .lab("PO4", 3.9, "mg/dL", days_ago=10)
        .med("denosumab", draft=True)
        .condition("M81.0")
    )
    assert RULE in fired(b)
    f = finding(b)
    assert f is not None
    assert f.indicator == "critical"
    assert "low calcium 8.18 mg/dL, eGFR 24, 25-OH D 16 ng/mL" in f.summary


def test_v24_zoledronic_acid_with_egfr_32_is_critical() -> None:
    b = (
        a_patient(70, "male")
        .lab("EGFR", 32, EGFR_UNIT, days_ago=20)
        .lab("CA", 9.4, "mg/dL", days_ago=20)
        .lab("ALB", 4.0, "g/dL", days_ago=20)
        .lab("VITD", 35, "ng/mL", days_ago=20)
        .lab("PO4", 3.1, "mg/dL", days_ago=20)
        .med("zoledronic acid", draft=True)
        .condition("M81.0")
    )
    assert RULE in fired(b)
    f = finding(b)
    assert f is not None
    assert f.indicator == "critical"


def test_v25_alendronate_with_a_complete_normal_work_up_is_silent() -> None:
    b = (
        a_patient(66, "female")
        .lab("CA", 9.5, "mg/dL", days_ago=30)
        .lab("ALB", 4.2, "g/dL", days_ago=30)
        .lab("EGFR", 70, EGFR_UNIT, days_ago=30)
        .lab("VITD", 34, "ng/mL", days_ago=30)
        .lab("PO4", 3.4, "mg/dL", days_ago=30)
        .dxa("T", "LS", -2.7, days_ago=40)
        .med("alendronate", draft=True)
    )
    assert RULE not in fired(b, "order-select", frozenset(drafts(b)))


def test_v45_denosumab_in_a_dialysis_patient_with_normal_calcium_is_critical() -> None:
    b = vignette_patient("V45")
    assert RULE in fired(b)
    f = finding(b)
    assert f is not None
    assert f.indicator == "critical"
    assert "eGFR 8" in f.summary
