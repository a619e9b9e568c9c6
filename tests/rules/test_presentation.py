"""The evidence rows and suggestion lists every rule builds with `rules.presentation`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from rules import orderables
from rules.engine import evaluate
from rules.facts import Facts
from rules.params import DEFAULT_PARAMETERS
from rules.parathyroid import phpt_surgical_criteria, secondary_hpt
from rules.presentation import (
    ckd_evidence,
    coded_condition_evidence,
    condition_evidence,
    lab_display,
    medication_evidence,
    unique_suggestions,
)
from rules.snapshot import ConditionRecord, MedicationExposure
from tests.builders import a_patient

ONSET = datetime(2020, 3, 1, tzinfo=UTC)
START = datetime(2025, 6, 1, tzinfo=UTC)


def condition(display: str = "Primary hyperparathyroidism", active: bool = True) -> ConditionRecord:
    return ConditionRecord(
        "Condition/c1", frozenset({"PHPT"}), active, codes=("E21.0",), display=display, onset=ONSET
    )


def medication(*, draft: bool = False, dose: float | None = 70.0) -> MedicationExposure:
    return MedicationExposure(
        reference="MedicationRequest/m1",
        source="request",
        status="draft" if draft else "active",
        display="Alendronate 70 mg tablet",
        ingredients=frozenset({"alendronate"}),
        classes=frozenset({"BP"}),
        start=START,
        is_draft=draft,
        daily_dose_mg=dose,
    )


@pytest.mark.parametrize(
    ("display", "label", "expected"),
    [
        ("Primary hyperparathyroidism", "Condition", "Condition: Primary hyperparathyroidism"),
        ("", "Condition", "Condition: E21.0"),
        ("Gastric bypass", "History", "History: Gastric bypass"),
    ],
)
def test_condition_evidence_names_the_condition_or_its_codes_and_dates_it_at_onset(
    display: str, label: str, expected: str
) -> None:
    row = condition_evidence(condition(display), label)
    assert (row.reference, row.label, row.effective) == ("Condition/c1", expected, ONSET)


@pytest.mark.parametrize(
    ("display", "active", "label", "note"),
    [
        ("Osteoporosis", True, "Condition Osteoporosis (E21.0)", "active"),
        ("E21.0", False, "Condition (E21.0)", "history"),
    ],
)
def test_coded_condition_evidence_shows_codes_and_status(
    display: str, active: bool, label: str, note: str
) -> None:
    row = coded_condition_evidence(condition(display, active))
    assert (row.label, row.note, row.effective) == (label, note, ONSET)


@pytest.mark.parametrize(
    ("draft", "label", "name", "with_dose", "expected_label", "value", "unit"),
    [
        (False, None, None, False, "Medication: Alendronate 70 mg tablet", None, ""),
        (True, None, None, False, "Draft order: Alendronate 70 mg tablet", None, ""),
        (
            False,
            "Current aromatase inhibitor",
            None,
            True,
            "Current aromatase inhibitor: Alendronate 70 mg tablet",
            70.0,
            "mg/day",
        ),
        (False, None, "alendronate", False, "Medication: alendronate", None, ""),
    ],
)
def test_medication_evidence_labels_names_and_optionally_shows_the_dose(
    draft: bool,
    label: str | None,
    name: str | None,
    with_dose: bool,
    expected_label: str,
    value: float | None,
    unit: str,
) -> None:
    row = medication_evidence(medication(draft=draft), label, name=name, note="n", with_dose=with_dose)
    assert (row.label, row.value, row.unit, row.effective, row.note) == (
        expected_label,
        value,
        unit,
        START,
        "n",
    )


def test_medication_evidence_with_an_unreadable_dose_shows_no_unit() -> None:
    row = medication_evidence(medication(dose=None), with_dose=True)
    assert (row.value, row.unit) == (None, "")


def test_unique_suggestions_keeps_the_first_of_equal_suggestions_across_groups() -> None:
    cancel_a = orderables.cancel_draft("MedicationRequest/a", "Cancel the draft alendronate order")
    cancel_b = orderables.cancel_draft("MedicationRequest/b", "Cancel the draft alendronate order")
    merged = unique_suggestions([orderables.PTH, cancel_a], [cancel_b, orderables.PTH], (orderables.VITD,))
    # Same label, other draft: both cancellations stay.
    assert merged == [orderables.PTH, cancel_a, cancel_b, orderables.VITD]


def test_lab_display_shows_the_reported_value_and_unit() -> None:
    lab = a_patient().lab("PTH_MOL", 9.8, "pmol/L", days_ago=1).snapshot().labs[0]
    assert lab_display(lab) == ("9.8", "pmol/L")


def test_ckd_evidence_lists_the_stage_conditions_once_and_the_latest_egfr() -> None:
    b = a_patient(70).condition("N18.4").condition("N18.6").lab("EGFR", 25, "mL/min/{1.73_m2}", days_ago=10)
    rows = ckd_evidence(Facts(b.snapshot(), DEFAULT_PARAMETERS))
    assert [r.label for r in rows] == ["Condition: N18.4", "Condition: N18.6", "eGFR"]


def test_phpt_surgical_criteria_dates_the_phpt_condition_at_its_onset() -> None:
    snapshot = a_patient(45).condition("E21.0").snapshot()
    snapshot = dataclasses.replace(
        snapshot, conditions=(dataclasses.replace(snapshot.conditions[0], onset=ONSET),)
    )
    result = evaluate(snapshot, rules=[phpt_surgical_criteria.RULE])
    row = next(e for e in result.findings[0].evidence if e.reference == snapshot.conditions[0].reference)
    assert (row.label, row.effective) == ("Condition: E21.0", ONSET)


def test_secondary_hpt_dates_the_pth_raising_medication_at_its_start() -> None:
    b = a_patient(60).lab("PTH", 95, "pg/mL", days_ago=10).lab("CA", 9.4, "mg/dL", days_ago=10)
    b.lab("ALB", 4.0, "g/dL", days_ago=10).lab("VITD", 40, "ng/mL", days_ago=10)
    b.lab("EGFR", 80, "mL/min/{1.73_m2}", days_ago=10).med("hydrochlorothiazide", since_days=200)
    result = evaluate(b.snapshot(), rules=[secondary_hpt.RULE])
    row = next(e for e in result.findings[0].evidence if e.label.startswith("PTH-raising medication"))
    assert row.effective == b.when(days_ago=200)
