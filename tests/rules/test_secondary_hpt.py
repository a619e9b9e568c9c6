"""A8 `secondary-hpt`: each cause, the missing-data causes, the G5D rule, and the A7/A8 partition."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from functools import partial
from itertools import product

import pytest

from rules.engine import evaluate
from rules.findings import Finding
from rules.parathyroid import normocalcemic_phpt_possible, secondary_hpt
from rules.snapshot import ProcedureRecord
from tests.builders import PatientBuilder, T, a_patient
from tests.rules.helpers import findings_of, vignette_patient

A7 = "normocalcemic-phpt-possible"
A8 = "secondary-hpt"
EGFR_UNIT = "mL/min/{1.73_m2}"


fired = partial(findings_of, rules=(normocalcemic_phpt_possible.RULE, secondary_hpt.RULE))


def causes(finding: Finding) -> list[str]:
    return finding.data["causes"].split(",")


def clean(pth: float = 90, pth_ref: tuple[float | None, float | None] | None = None) -> PatientBuilder:
    """Raised PTH on d-10 with normal calcium, 25-OH D 38, eGFR 82: no cause (A7 territory)."""
    return (
        a_patient(58, "male")
        .lab("PTH", pth, "pg/mL", days_ago=10, ref=pth_ref)
        .lab("CA", 9.5, "mg/dL", days_ago=10)
        .lab("ALB", 4.1, "g/dL", days_ago=10)
        .lab("VITD", 38, "ng/mL", days_ago=10)
        .lab("EGFR", 82, EGFR_UNIT, days_ago=10)
    )


# ---- vignettes ------------------------------------------------------------------------------


def test_v11_vitamin_d_deficiency_explains_the_raised_pth() -> None:
    p = (
        a_patient(59, "female")
        .lab("CA", 9.3, "mg/dL", days_ago=15)
        .lab("ALB", 4.1, "g/dL", days_ago=15)
        .lab("PTH", 88, "pg/mL", days_ago=15)
        .lab("VITD", 11, "ng/mL", days_ago=15)
        .lab("EGFR", 88, EGFR_UNIT, days_ago=15)
        .lab("PTH", 92, "pg/mL", days_ago=120)
        .lab("CA", 9.4, "mg/dL", days_ago=120)
        .lab("ALB", 4, "g/dL", days_ago=120)
    )
    findings = fired(p)
    assert set(findings) == {A8}
    assert findings[A8].indicator == "info"
    assert causes(findings[A8]) == ["vitd"]
    assert "Raised PTH 88 pg/mL" in findings[A8].summary
    assert "25-OH D 11 ng/mL" in findings[A8].summary


def test_v13_ckd_g3b_and_vitamin_d_insufficiency() -> None:
    p = vignette_patient("V13")
    findings = fired(p)
    assert set(findings) == {A8}
    assert findings[A8].indicator == "info"
    assert causes(findings[A8]) == ["vitd", "ckd"]
    assert "eGFR 38" in findings[A8].summary
    assert any(s.code == "2777-1" for s in findings[A8].suggestions)  # phosphate for CKD


def test_v33_after_bariatric_surgery_low_vitamin_d_and_malabsorption() -> None:
    p = (
        a_patient(44, "female")
        .lab("VITD", 17, "ng/mL", days_ago=30)
        .lab("PTH", 95, "pg/mL", days_ago=30)
        .lab("CA", 9, "mg/dL", days_ago=30)
        .lab("ALB", 3.9, "g/dL", days_ago=30)
        .lab("EGFR", 95, EGFR_UNIT, days_ago=30)
        .condition("Z98.84")
    )
    findings = fired(p)
    assert set(findings) == {A8}
    assert causes(findings[A8]) == ["vitd", "malabsorption"]
    assert any(s.kind == "referral" for s in findings[A8].suggestions)


def _dialysis(pth: float) -> PatientBuilder:
    return (
        a_patient(66, "male")
        .lab("EGFR", 9, EGFR_UNIT, days_ago=20)
        .lab("PTH", pth, "pg/mL", days_ago=20)
        .lab("CA", 9.2, "mg/dL", days_ago=20)
        .lab("ALB", 3.7, "g/dL", days_ago=20)
        .lab("PO4", 5.2, "mg/dL", days_ago=20)
        .lab("VITD", 31, "ng/mL", days_ago=200)
        .dxa("T", "LS", -1.8, days_ago=600)
        .condition("N18.6")
        .condition("Z99.2")
    )


def test_v38_dialysis_pth_within_kdigo_target_gives_no_card() -> None:
    assert fired(_dialysis(390)) == {}


def test_v39_dialysis_pth_above_kdigo_target_warns() -> None:
    findings = fired(_dialysis(720))
    assert set(findings) == {A8}
    assert findings[A8].indicator == "warning"
    assert causes(findings[A8]) == ["above-kdigo-target"]
    assert "KDIGO" in findings[A8].summary
    assert "CKD G5D" in findings[A8].summary


def test_v40_raised_pth_without_calcium_near_it_is_the_missing_data_path() -> None:
    p = (
        a_patient(48, "male")
        .lab("PTH", 90, "pg/mL", days_ago=40)
        .lab("VITD", 35, "ng/mL", days_ago=40)
        .lab("EGFR", 90, EGFR_UNIT, days_ago=40)
    )
    findings = fired(p)
    assert set(findings) == {A8}
    assert causes(findings[A8]) == ["calcium-not-measured"]
    codes = {s.code for s in findings[A8].suggestions}
    assert {"17861-6", "1751-7"} <= codes


def test_v32_no_pth_means_no_card() -> None:
    p = (
        a_patient(63, "female")
        .lab("EGFR", 22, EGFR_UNIT, days_ago=30)
        .lab("EGFR", 25, EGFR_UNIT, days_ago=150)
        .lab("CA", 9.1, "mg/dL", days_ago=250)
        .lab("VITD", 33, "ng/mL", days_ago=250)
    )
    assert fired(p) == {}


# ---- each cause -----------------------------------------------------------------------------


def _with_cause(cause: str) -> PatientBuilder:
    p = a_patient(58, "male").lab("PTH", 90, "pg/mL", days_ago=10)
    if cause != "calcium-not-measured":
        ca = 8.2 if cause == "hypocalcemia" else 9.5
        p.lab("CA", ca, "mg/dL", days_ago=10).lab("ALB", 4.0, "g/dL", days_ago=10)
    if cause != "vitd-missing":
        p.lab("VITD", 20 if cause == "vitd" else 38, "ng/mL", days_ago=10)
    if cause != "egfr-missing":
        p.lab("EGFR", 45 if cause == "ckd" else 82, EGFR_UNIT, days_ago=10)
    if cause == "malabsorption":
        p.condition("K90.0")
    if cause == "drug":
        p.med("hydrochlorothiazide", since_days=400)
    return p


@pytest.mark.parametrize(
    ("cause", "suggested"),
    [
        ("calcium-not-measured", "17861-6"),
        ("hypocalcemia", None),
        ("vitd-missing", "62292-8"),
        ("vitd", "62292-8"),
        ("egfr-missing", "2160-0"),
        ("ckd", "2777-1"),
        ("malabsorption", None),
        ("drug", None),
    ],
)
def test_each_cause_alone_fires_secondary_hpt_and_is_named(cause: str, suggested: str | None) -> None:
    findings = fired(_with_cause(cause))
    assert set(findings) == {A8}
    finding = findings[A8]
    assert finding.indicator == "info"
    assert causes(finding) == [cause]
    if suggested is not None:
        assert any(s.code == suggested for s in finding.suggestions)


def test_the_drug_cause_names_the_drug() -> None:
    assert "hydrochlorothiazide" in fired(_with_cause("drug"))[A8].summary


def test_a_gi_surgery_procedure_counts_as_malabsorption_history() -> None:
    surgery = ProcedureRecord(
        "Procedure/gi1", frozenset({"GI_SURGERY"}), T - timedelta(days=900), "Sleeve gastrectomy"
    )
    base = clean().dxa_procedure(days_ago=100).snapshot()  # a DXA procedure is not GI surgery
    snapshot = dataclasses.replace(base, procedures=(*base.procedures, surgery))
    result = evaluate(snapshot, rules=(normocalcemic_phpt_possible.RULE, secondary_hpt.RULE))
    [finding] = result.findings
    assert finding.rule_id == A8
    assert causes(finding) == ["malabsorption"]
    assert "Sleeve gastrectomy" in finding.detail


def test_a_low_uncorrected_calcium_near_the_pth_counts_as_hypocalcemia() -> None:
    p = (
        a_patient(58, "male")
        .lab("PTH", 90, "pg/mL", days_ago=10)
        .lab("CA", 8.2, "mg/dL", days_ago=12)
        .lab("VITD", 38, "ng/mL", days_ago=10)
        .lab("EGFR", 82, EGFR_UNIT, days_ago=10)
    )
    assert causes(fired(p)[A8]) == ["hypocalcemia"]


def test_many_causes_are_shortened_to_keep_the_summary_under_140_characters() -> None:
    p = (
        a_patient(58, "male")
        .lab("PTH", 90, "pg/mL", days_ago=10)
        .condition("K90.0")
        .med("hydrochlorothiazide", since_days=400)
        .med("furosemide", since_days=400)
        .med("lithium carbonate", since_days=400)
    )
    finding = fired(p)[A8]
    assert causes(finding) == [
        "calcium-not-measured", "vitd-missing", "egfr-missing", "malabsorption", "drug",
    ]  # fmt: skip
    assert len(finding.summary) < 140
    assert "more" in finding.summary
    assert finding.summary.startswith("Raised PTH 90 pg/mL with non-high calcium; likely secondary:")


# ---- G5D rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(("pth", "fires"), [(585, False), (585.01, True)])
def test_in_g5d_only_pth_above_9_times_uln_fires(pth: float, fires: bool) -> None:
    findings = fired(_dialysis(pth))
    assert (A8 in findings) is fires
    assert A7 not in findings


def test_the_g5d_target_uses_the_labs_own_uln() -> None:
    # Lab ULN 50 (within the 35-100 sanity band): target limit 450 pg/mL.
    def dialysis(pth: float) -> PatientBuilder:
        return clean(pth, pth_ref=(10, 50)).condition("N18.6")

    assert A8 not in fired(dialysis(450))
    assert fired(dialysis(451))[A8].indicator == "warning"


@pytest.mark.parametrize(
    ("egfr", "pth", "expected"),
    [
        (14.99, 200, None),  # eGFR < 15 is handled as G5D: within target, no card
        (14.99, 600, "warning"),
        (15, 200, "info"),  # eGFR 15 is CKD (< 60), not G5D
    ],
)
def test_egfr_below_15_is_handled_like_g5d(egfr: float, pth: float, expected: str | None) -> None:
    p = clean(pth).lab("EGFR", egfr, EGFR_UNIT, days_ago=2)
    findings = fired(p)
    assert A7 not in findings
    if expected is None:
        assert A8 not in findings
    else:
        assert findings[A8].indicator == expected


# ---- exclusions -----------------------------------------------------------------------------


def test_active_phpt_condition_silences_it() -> None:
    assert fired(_with_cause("vitd").condition("E21.0")) == {}


@pytest.mark.parametrize(("high_days", "fires"), [(365, False), (366, True)])
def test_a_high_calcium_within_365_days_silences_it(high_days: int, fires: bool) -> None:
    p = _with_cause("vitd").lab("CA", 10.9, "mg/dL", days_ago=high_days)
    assert (A8 in fired(p)) is fires


def test_pth_older_than_365_days_gives_no_card() -> None:
    p = _with_cause("vitd")
    p.labs = [spec for spec in p.labs if spec.name != "PTH"]
    p.lab("PTH", 90, "pg/mL", days_ago=366)
    assert fired(p) == {}


# ---- partition: exactly one of A7 / A8 -----------------------------------------------------

CALCIUM = ("normal", "not-measured", "low")
VITD = ("ok", "missing", "low")
EGFR = ("ok", "missing", "low", "below-15")


def _combination(
    calcium: str, vitd: str, egfr: str, malabsorption: bool, drug: bool, dialysis: bool, pth: float
) -> PatientBuilder:
    p = a_patient(58, "female").lab("PTH", pth, "pg/mL", days_ago=10)
    if calcium != "not-measured":
        p.lab("CA", 8.1 if calcium == "low" else 9.5, "mg/dL", days_ago=10)
        p.lab("ALB", 4.0, "g/dL", days_ago=10)
    if vitd != "missing":
        p.lab("VITD", 18 if vitd == "low" else 36, "ng/mL", days_ago=10)
    egfr_values = {"ok": 85.0, "low": 45.0, "below-15": 10.0}
    if egfr != "missing":
        p.lab("EGFR", egfr_values[egfr], EGFR_UNIT, days_ago=10)
    if malabsorption:
        p.condition("K50.90")
    if drug:
        p.med("lithium carbonate", since_days=500)
    if dialysis:
        p.condition("Z99.2")
    return p


@pytest.mark.parametrize(
    ("calcium", "vitd", "egfr", "malabsorption", "drug", "dialysis", "pth"),
    list(product(CALCIUM, VITD, EGFR, (False, True), (False, True), (False, True), (90, 700))),
)
def test_exactly_one_of_a7_and_a8_fires_except_g5d_within_target(
    calcium: str, vitd: str, egfr: str, malabsorption: bool, drug: bool, dialysis: bool, pth: float
) -> None:
    findings = set(fired(_combination(calcium, vitd, egfr, malabsorption, drug, dialysis, pth)))
    g5d = dialysis or egfr == "below-15"
    any_cause = calcium != "normal" or vitd != "ok" or egfr in ("missing", "low") or malabsorption or drug
    if g5d:
        assert findings == ({A8} if pth > 9 * 65 else set())
    elif any_cause:
        assert findings == {A8}
    else:
        assert findings == {A7}


@pytest.mark.parametrize(
    "p",
    [
        # V01: PTH-dependent hypercalcaemia (phpt-suspected's), not A7/A8
        a_patient(62, "female")
        .lab("CA", 11.2, "mg/dL", days_ago=10)
        .lab("ALB", 4.1, "g/dL", days_ago=10)
        .lab("PTH", 98, "pg/mL", days_ago=10)
        .lab("VITD", 32, "ng/mL", days_ago=10)
        .lab("EGFR", 85, EGFR_UNIT, days_ago=10),
        # V09: post-thyroidectomy hypocalcaemia with PTH 6: PTH is not raised
        a_patient(52, "female")
        .lab("CA", 7.4, "mg/dL", days_ago=3)
        .lab("ALB", 4, "g/dL", days_ago=3)
        .lab("PTH", 6, "pg/mL", days_ago=3)
        .lab("MG", 1.9, "mg/dL", days_ago=3),
        # V35: vitamin D intoxication, suppressed PTH and high calcium
        a_patient(54, "female")
        .lab("VITD", 180, "ng/mL", days_ago=5)
        .lab("CA", 11.3, "mg/dL", days_ago=5)
        .lab("ALB", 4, "g/dL", days_ago=5)
        .lab("PTH", 9, "pg/mL", days_ago=5),
    ],
    ids=["V01", "V09", "V35"],
)
def test_vignette_negatives(p: PatientBuilder) -> None:
    assert fired(p) == {}
