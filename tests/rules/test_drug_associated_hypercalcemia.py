"""A5 `drug-associated-hypercalcemia`: thiazide/lithium exposure window, drug naming, co-firing, vignettes."""

from __future__ import annotations

import dataclasses

import pytest

from rules.engine import evaluate
from rules.findings import Finding
from rules.parathyroid import phpt_suspected, pth_independent_hypercalcemia
from rules.parathyroid.drug_associated_hypercalcemia import RULE
from rules.snapshot import MedicationExposure, PatientSnapshot
from tests.builders import PatientBuilder, T, a_patient


def first(snapshot: PatientSnapshot) -> Finding | None:
    result = evaluate(snapshot, rules=[RULE])
    assert result.failures == ()
    return result.findings[0] if result.findings else None


def finding(builder: PatientBuilder, hook: str = "patient-view") -> Finding | None:
    return first(builder.snapshot(hook))


def high_ca(*, ca: float = 10.8) -> PatientBuilder:
    return a_patient(66).lab("CA", ca, "mg/dL", days_ago=12).lab("ALB", 4.0, "g/dL", days_ago=12)


@pytest.mark.parametrize(
    ("ingredient", "fires"),
    [
        ("hydrochlorothiazide", True),
        ("chlorthalidone", True),
        ("lithium carbonate", True),
        ("furosemide", False),
        ("alendronate", False),
    ],
)
def test_fires_for_current_thiazide_or_lithium_only(ingredient: str, fires: bool) -> None:
    assert (finding(high_ca().med(ingredient, since_days=400)) is not None) is fires


@pytest.mark.parametrize(("ended_days_ago", "fires"), [(30, True), (90, True), (91, False)])
def test_exposure_counts_until_90_days_after_the_end(ended_days_ago: float, fires: bool) -> None:
    p = high_ca().med("hydrochlorothiazide", since_days=400, status="stopped", ended_days_ago=ended_days_ago)
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(("source", "fires"), [("statement", True), ("request", True)])
def test_statements_count_like_requests(source: str, fires: bool) -> None:
    assert (finding(high_ca().med("lithium carbonate", since_days=100, source=source)) is not None) is fires


def test_a_draft_order_is_not_an_exposure() -> None:
    assert finding(high_ca().med("hydrochlorothiazide", draft=True)) is None


@pytest.mark.parametrize(("ca", "fires"), [(10.2, False), (10.21, True)])
def test_needs_a_high_index_calcium(ca: float, fires: bool) -> None:
    assert (finding(high_ca(ca=ca).med("hydrochlorothiazide", since_days=400)) is not None) is fires


def test_mmol_per_litre_calcium_is_shown_as_reported() -> None:
    p = (
        a_patient(66)
        .lab("CA_MOL", 2.7, "mmol/L", days_ago=12)
        .lab("ALB", 40, "g/L", days_ago=12)
        .med("hydrochlorothiazide", since_days=400)
    )
    f = finding(p)
    assert f is not None
    assert f.summary.startswith("High calcium 2.7 mmol/L while taking hydrochlorothiazide")


def test_no_calcium_means_no_card() -> None:
    assert finding(a_patient(66).med("lithium carbonate", since_days=400)) is None


@pytest.mark.parametrize("pth", [None, 8.0, 71.0])
def test_pth_is_not_required_and_does_not_matter(pth: float | None) -> None:
    p = high_ca().med("lithium carbonate", since_days=400)
    if pth is not None:
        p = p.lab("PTH", pth, "pg/mL", days_ago=12)
    assert finding(p) is not None


def test_summary_names_the_drug_and_follows_the_template() -> None:
    f = finding(high_ca().med("hydrochlorothiazide", since_days=400))
    assert f is not None
    assert f.indicator == "warning"
    assert f.summary == (
        "High calcium 10.8 mg/dL while taking hydrochlorothiazide: review drug effect and recheck Ca and PTH."
    )
    assert f.data["drugs"] == "hydrochlorothiazide"
    assert "about 3 months" in f.detail
    assert {"17861-6", "2731-8"} <= {s.code for s in f.suggestions}


def test_lithium_advice_keeps_the_prescriber_in_charge() -> None:
    f = finding(high_ca().med("lithium carbonate", since_days=400))
    assert f is not None
    assert "Do not stop lithium without the prescriber" in f.detail
    assert "2160-0" in {s.code for s in f.suggestions}
    assert any(s.kind == "referral" for s in f.suggestions)


def test_both_drugs_are_named_and_the_summary_stays_short() -> None:
    f = finding(high_ca().med("hydrochlorothiazide", since_days=400).med("lithium carbonate", since_days=400))
    assert f is not None
    assert "hydrochlorothiazide" in f.summary
    assert "lithium carbonate" in f.summary
    assert len(f.summary) < 140
    assert f.data["classes"] == "LITHIUM,THIAZIDE"


def combination(display: str, ingredients: frozenset[str]) -> MedicationExposure:
    return MedicationExposure(
        reference="MedicationRequest/combo",
        source="request",
        status="active",
        display=display,
        ingredients=ingredients,
        classes=frozenset({"THIAZIDE"}),
        start=T,
    )


@pytest.mark.parametrize(
    ("display", "ingredients", "named"),
    [
        (
            "losartan 50 MG / hydrochlorothiazide 12.5 MG",
            {"losartan", "hydrochlorothiazide"},
            "hydrochlorothiazide",
        ),
        ("Bendroflumethiazide 2.5 MG", {"bendroflumethiazide"}, "bendroflumethiazide"),
        ("Local diuretic combination", {"amiloride", "cyclopenthiazide"}, "Local diuretic combination"),
        ("", {"amiloride", "cyclopenthiazide"}, "thiazide"),
    ],
)
def test_a_combination_product_is_named_by_its_culprit_ingredient(
    display: str, ingredients: set[str], named: str
) -> None:
    snapshot = high_ca().snapshot()
    snapshot = dataclasses.replace(snapshot, medications=(combination(display, frozenset(ingredients)),))
    f = first(snapshot)
    assert f is not None
    assert f"while taking {named}:" in f.summary


def test_replaces_phpt_suspected_and_co_fires_with_pth_independent() -> None:
    p = high_ca().lab("PTH", 71, "pg/mL", days_ago=12).med("lithium carbonate", since_days=3000)
    rules = [RULE, phpt_suspected.RULE, pth_independent_hypercalcemia.RULE]
    assert evaluate(p.snapshot(), rules=rules).rule_ids == {RULE.id}
    p = high_ca().lab("PTH", 8, "pg/mL", days_ago=12).med("hydrochlorothiazide", since_days=300)
    assert evaluate(p.snapshot(), rules=rules).rule_ids == {RULE.id, pth_independent_hypercalcemia.RULE.id}


@pytest.mark.parametrize(("hook", "fires"), [("background", True), ("batch", False)])
def test_runs_in_background(hook: str, fires: bool) -> None:
    assert (finding(high_ca().med("lithium carbonate", since_days=400), hook) is not None) is fires


@pytest.mark.parametrize(
    ("builder", "fires"),
    [
        # V14: hydrochlorothiazide, Ca 10.8, PTH 58.
        (
            a_patient(66)
            .lab("CA", 10.8, "mg/dL", days_ago=12)
            .lab("ALB", 4, "g/dL", days_ago=12)
            .lab("PTH", 58, "pg/mL", days_ago=12)
            .lab("VITD", 40, "ng/mL", days_ago=12)
            .lab("EGFR", 75, "mL/min/{1.73_m2}", days_ago=12)
            .dxa("T", "LS", -1.2, days_ago=300)
            .med("hydrochlorothiazide", since_days=400, dose_mg=25),
            True,
        ),
        # V34: lithium, Ca 10.7 with albumin 4.3 (corrected 10.46), PTH 71.
        (
            a_patient(50, "male")
            .lab("CA", 10.7, "mg/dL", days_ago=8)
            .lab("ALB", 4.3, "g/dL", days_ago=8)
            .lab("PTH", 71, "pg/mL", days_ago=8)
            .med("lithium carbonate", since_days=3000, dose_mg=900),
            True,
        ),
        # V01: no drug.
        (
            a_patient(62)
            .lab("CA", 11.2, "mg/dL", days_ago=10)
            .lab("ALB", 4.1, "g/dL", days_ago=10)
            .lab("PTH", 98, "pg/mL", days_ago=10),
            False,
        ),
    ],
    ids=["V14", "V34", "V01"],
)
def test_vignettes(builder: PatientBuilder, fires: bool) -> None:
    f = finding(builder)
    assert (f is not None) is fires
    if f is not None:
        assert f.indicator == "warning"
