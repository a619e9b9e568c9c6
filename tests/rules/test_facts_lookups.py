"""Facts' indexed lookups: labs, conditions and medications come back as the plain scans would give
them (order, windows, active vs history), as fresh lists, and derived values are computed once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules.facts import Facts, cached_property
from rules.params import Parameters
from rules.snapshot import Analyte, LabResult
from tests.builders import PatientBuilder, T, a_patient


def facts_of(builder: PatientBuilder) -> Facts:
    return Facts(builder.snapshot(), Parameters())


def _scan(facts: Facts, *analytes: Analyte, within: float | None = None) -> list[LabResult]:
    """The definition `Facts.labs` implements: every result up to T, in the window, oldest first."""
    found = [
        r
        for r in facts.s.labs
        if r.analyte in analytes
        and r.effective <= facts.at
        and (within is None or facts.at - timedelta(days=within) <= r.effective)
    ]
    return sorted(found, key=lambda r: (r.effective, r.status in ("corrected", "amended")))


def _mixed() -> PatientBuilder:
    return (
        a_patient()
        .lab("CA", 10.1, "mg/dL", days_ago=40)
        .lab("ICA", 1.3, "mmol/L", days_ago=30)
        .lab("CA", 10.4, "mg/dL", days_ago=20)
        .lab("CA_LABCORR", 10.2, "mg/dL", days_ago=30, status="corrected")
        .lab("ICA", 1.2, "mmol/L", days_ago=5)
        .lab("CA", 10.0, "mg/dL", days_ago=-3)  # after T: never read
        .lab("ALB", 3.9, "g/dL", days_ago=20)
    )


@pytest.mark.parametrize(
    "analytes",
    [
        (Analyte.CA_TOTAL,),
        (Analyte.CA_TOTAL, Analyte.CA_ION),
        (Analyte.CA_ION, Analyte.CA_TOTAL, Analyte.CA_LABCORR),
        (Analyte.PTH,),
        (Analyte.PTH, Analyte.ALBUMIN),
        (),
    ],
)
@pytest.mark.parametrize("within", [None, 5, 19.5, 20, 30, 400])
def test_labs_of_one_or_several_analytes_are_those_up_to_t_oldest_first(
    analytes: tuple[Analyte, ...], within: float | None
) -> None:
    facts = facts_of(_mixed())
    assert facts.labs(*analytes, within=within) == _scan(facts, *analytes, within=within)


def test_the_window_edge_is_inclusive() -> None:
    facts = facts_of(a_patient().lab("CA", 10.1, "mg/dL", days_ago=30))
    assert [r.effective for r in facts.labs(Analyte.CA_TOTAL, within=30)] == [T - timedelta(days=30)]
    assert facts.labs(Analyte.CA_TOTAL, within=29.99) == []


def test_lab_lists_are_fresh_lists_that_callers_may_change() -> None:
    facts = facts_of(_mixed())
    first = facts.labs(Analyte.CA_TOTAL)
    first.clear()
    assert len(facts.labs(Analyte.CA_TOTAL)) == 2
    assert facts.latest(Analyte.CA_TOTAL) is not None


def test_conditions_by_set_keep_snapshot_order_and_tell_active_from_history() -> None:
    facts = facts_of(
        a_patient().condition("M81.0", active=False).condition("M80.08XA").condition("E21.0", active=False)
    )
    assert [c.codes for c in facts.conditions("OSTEOPOROSIS", active=False)] == [
        c.codes for c in facts.s.conditions if "OSTEOPOROSIS" in c.sets
    ]
    assert len(facts.conditions("OSTEOPOROSIS")) == 1
    assert facts.has_condition("OSTEOPOROSIS") and facts.has_condition("PHPT", active=False)
    assert not facts.has_condition("PHPT") and not facts.has_condition("RA", active=False)
    found = facts.conditions("OSTEOPOROSIS", active=False)
    found.clear()
    assert len(facts.conditions("OSTEOPOROSIS", active=False)) == 2


def test_medications_by_class_keep_snapshot_order_as_fresh_lists() -> None:
    facts = facts_of(
        a_patient().med("prednisone", since_days=100).med("anastrozole").med("hydrocortisone", since_days=5)
    )
    assert [m.ingredients for m in facts.medications("GC")] == [
        m.ingredients for m in facts.s.medications if "GC" in m.classes
    ]
    facts.medications("GC").clear()
    assert len(facts.medications("GC")) == 2
    assert facts.medications("BP") == []


def test_the_egfr_of_each_window_is_its_own() -> None:
    facts = facts_of(
        a_patient()
        .lab("EGFR", 40, "mL/min/{1.73_m2}", days_ago=300)
        .lab("EGFR", 70, "mL/min/{1.73_m2}", days_ago=10)
    )
    recent, older = facts.latest_egfr(5), facts.latest_egfr(400)
    assert recent is None
    assert older is not None and older.value == 70
    assert facts.latest_egfr(5) is None  # asked again: the same answer


def test_derived_values_are_computed_once_per_facts() -> None:
    facts = facts_of(_mixed().lab("ALB", 3.5, "g/dL", days_ago=5))
    assert facts.calcium is facts.calcium
    assert facts.ckd_stage == facts.ckd_stage
    assert isinstance(Facts.calcium, cached_property)  # read on the class: the descriptor itself
