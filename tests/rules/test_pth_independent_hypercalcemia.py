"""A4 `pth-independent-hypercalcemia`: the suppressed-PTH cut-off, pairing window, units, vignettes."""

from __future__ import annotations

import pytest

from rules.engine import evaluate
from rules.findings import Finding
from rules.params import DEFAULT_PARAMETERS, Parameters
from rules.parathyroid import drug_associated_hypercalcemia
from rules.parathyroid.pth_independent_hypercalcemia import RULE
from tests.builders import PatientBuilder, a_patient


def finding(
    builder: PatientBuilder, hook: str = "patient-view", params: Parameters = DEFAULT_PARAMETERS
) -> Finding | None:
    result = evaluate(builder.snapshot(hook), params, rules=[RULE])
    assert result.failures == ()
    return result.findings[0] if result.findings else None


def high_ca(*, ca: float = 11.0, days_ago: float = 5) -> PatientBuilder:
    return a_patient(60).lab("CA", ca, "mg/dL", days_ago=days_ago).lab("ALB", 4.0, "g/dL", days_ago=days_ago)


@pytest.mark.parametrize(
    ("name", "pth", "unit", "comparator", "fires"),
    [
        ("PTH", 19.99, "pg/mL", None, True),
        ("PTH", 20.0, "pg/mL", None, False),
        ("PTH_MOL", 2.1, "pmol/L", None, True),  # 19.8 pg/mL
        ("PTH_MOL", 2.2, "pmol/L", None, False),  # 20.7 pg/mL
        ("PTH", 3, "pg/mL", "<", True),  # below the detection limit
    ],
)
def test_fires_when_the_paired_pth_is_below_20_pg_per_ml(
    name: str, pth: float, unit: str, comparator: str | None, fires: bool
) -> None:
    p = high_ca().lab(name, pth, unit, days_ago=5, comparator=comparator)
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(("ca", "fires"), [(10.2, False), (10.21, True)])
def test_needs_a_high_index_calcium(ca: float, fires: bool) -> None:
    assert (finding(high_ca(ca=ca).lab("PTH", 8, "pg/mL", days_ago=5)) is not None) is fires


def test_mmol_per_litre_calcium_is_shown_as_reported() -> None:
    p = (
        a_patient(60)
        .lab("CA_MOL", 2.80, "mmol/L", days_ago=5)
        .lab("ALB", 40, "g/L", days_ago=5)
        .lab("PTH_MOL", 0.8, "pmol/L", days_ago=5)
    )
    f = finding(p)
    assert f is not None
    assert f.summary.startswith("Calcium 2.8 mmol/L with suppressed PTH 0.8 pmol/L")


@pytest.mark.parametrize(
    ("ca_days_ago", "pth_days_ago", "fires"),
    [(5, 35, True), (5, 36, False), (40, 10, True), (40, 9, False)],
)
def test_the_pth_must_lie_within_30_days_of_the_index_calcium(
    ca_days_ago: float, pth_days_ago: float, fires: bool
) -> None:
    p = high_ca(days_ago=ca_days_ago).lab("PTH", 8, "pg/mL", days_ago=pth_days_ago)
    assert (finding(p) is not None) is fires


@pytest.mark.parametrize(("near_pth", "far_pth", "fires"), [(8, 80, True), (80, 8, False)])
def test_the_pth_closest_to_the_calcium_decides(near_pth: float, far_pth: float, fires: bool) -> None:
    p = (
        high_ca(days_ago=5)
        .lab("PTH", near_pth, "pg/mL", days_ago=6)
        .lab("PTH", far_pth, "pg/mL", days_ago=20)
    )
    assert (finding(p) is not None) is fires


def test_no_pth_means_no_card() -> None:
    assert finding(high_ca()) is None


def test_no_exclusion_for_an_active_phpt_condition() -> None:
    assert finding(high_ca().lab("PTH", 8, "pg/mL", days_ago=5).condition("E21.0")) is not None


def test_co_fires_with_drug_associated_hypercalcemia_on_a_thiazide() -> None:
    p = high_ca().lab("PTH", 8, "pg/mL", days_ago=5).med("hydrochlorothiazide", since_days=300)
    result = evaluate(p.snapshot(), rules=[RULE, drug_associated_hypercalcemia.RULE])
    assert result.rule_ids == {RULE.id, drug_associated_hypercalcemia.RULE.id}


def test_card_is_a_warning_suggesting_the_pth_independent_workup() -> None:
    f = finding(high_ca().lab("PTH", 8, "pg/mL", days_ago=5))
    assert f is not None
    assert f.indicator == "warning"
    assert f.summary == "Calcium 11 mg/dL with suppressed PTH 8 pg/mL: evaluate PTH-independent causes."
    labels = {s.label for s in f.suggestions}
    assert {"Order PTHrP", "Order 1,25-dihydroxyvitamin D"} <= labels
    assert any("electrophoresis" in label for label in labels)
    assert "62290-2" in {s.code for s in f.suggestions}
    assert "malignancy" in f.detail


@pytest.mark.parametrize(("vitd_days_ago", "suggested"), [(None, True), (365, False), (366, True)])
def test_vitamin_d_is_suggested_only_when_missing_within_365_days(
    vitd_days_ago: float | None, suggested: bool
) -> None:
    p = high_ca().lab("PTH", 8, "pg/mL", days_ago=5)
    if vitd_days_ago is not None:
        p = p.lab("VITD", 40, "ng/mL", days_ago=vitd_days_ago)
    f = finding(p)
    assert f is not None
    assert ("62292-8" in {s.code for s in f.suggestions}) is suggested


@pytest.mark.parametrize(("accept_legacy", "suggested"), [(False, True), (True, False)])
def test_a_legacy_vitamin_d_assay_counts_only_when_the_site_accepts_it(
    accept_legacy: bool, suggested: bool
) -> None:
    p = high_ca().lab("PTH", 8, "pg/mL", days_ago=5).lab("VITD_LEGACY", 40, "ng/mL", days_ago=5)
    f = finding(p, params=DEFAULT_PARAMETERS.with_overrides({"accept_vitd_legacy": accept_legacy}))
    assert f is not None
    assert ("62292-8" in {s.code for s in f.suggestions}) is suggested


def test_uncorrected_calcium_fires_and_asks_for_albumin() -> None:
    f = finding(a_patient(60).lab("CA", 11.0, "mg/dL", days_ago=5).lab("PTH", 8, "pg/mL", days_ago=5))
    assert f is not None
    assert {"1751-7", "1994-3"} <= {s.code for s in f.suggestions}


def test_low_albumin_asks_for_ionized_calcium() -> None:
    f = finding(
        a_patient(70)
        .lab("CA", 10.1, "mg/dL", days_ago=3)
        .lab("ALB", 2.9, "g/dL", days_ago=3)
        .lab("PTH", 8, "pg/mL", days_ago=3)
    )
    assert f is not None
    assert "1994-3" in {s.code for s in f.suggestions}
    assert "correction is unreliable" in f.detail


@pytest.mark.parametrize(
    ("builder", "fires"),
    [
        # V06: low albumin unmasks hypercalcaemia (corrected 10.98), PTH 8.
        (
            a_patient(70)
            .lab("CA", 10.1, "mg/dL", days_ago=3)
            .lab("ALB", 2.9, "g/dL", days_ago=3)
            .lab("PTH", 8, "pg/mL", days_ago=3)
            .lab("VITD", 45, "ng/mL", days_ago=3)
            .lab("EGFR", 70, "mL/min/{1.73_m2}", days_ago=3),
            True,
        ),
        # V15: severe hypercalcaemia with PTH 5.
        (
            a_patient(71, "male")
            .lab("CA", 14.6, "mg/dL", days_ago=1)
            .lab("ALB", 3.6, "g/dL", days_ago=1)
            .lab("PTH", 5, "pg/mL", days_ago=1),
            True,
        ),
        # V35: vitamin D intoxication, PTH 9.
        (
            a_patient(54)
            .lab("VITD", 180, "ng/mL", days_ago=5)
            .lab("CA", 11.3, "mg/dL", days_ago=5)
            .lab("ALB", 4, "g/dL", days_ago=5)
            .lab("PTH", 9, "pg/mL", days_ago=5)
            .med("cholecalciferol", since_days=200),
            True,
        ),
        # V01: PTH 98 is not suppressed.
        (
            a_patient(62)
            .lab("CA", 11.2, "mg/dL", days_ago=10)
            .lab("ALB", 4.1, "g/dL", days_ago=10)
            .lab("PTH", 98, "pg/mL", days_ago=10),
            False,
        ),
        # V04: no PTH.
        (
            a_patient(55, "male").lab("CA", 10.9, "mg/dL", days_ago=5).lab("ALB", 4.2, "g/dL", days_ago=5),
            False,
        ),
        # V14: thiazide, PTH 58.
        (
            a_patient(66)
            .lab("CA", 10.8, "mg/dL", days_ago=12)
            .lab("ALB", 4, "g/dL", days_ago=12)
            .lab("PTH", 58, "pg/mL", days_ago=12)
            .med("hydrochlorothiazide", since_days=400),
            False,
        ),
    ],
    ids=["V06", "V15", "V35", "V01", "V04", "V14"],
)
def test_vignettes(builder: PatientBuilder, fires: bool) -> None:
    f = finding(builder)
    assert (f is not None) is fires
    if f is not None:
        assert f.indicator == "warning"


def test_v35_shows_the_vitamin_d_level_as_evidence() -> None:
    p = (
        a_patient(54)
        .lab("VITD", 180, "ng/mL", days_ago=5)
        .lab("CA", 11.3, "mg/dL", days_ago=5)
        .lab("ALB", 4, "g/dL", days_ago=5)
        .lab("PTH", 9, "pg/mL", days_ago=5)
    )
    f = finding(p)
    assert f is not None
    assert any(e.label == "25-OH vitamin D" and e.value == 180 for e in f.evidence)
