"""The snapshot's remembered code lookups and pre-filters give what the full checks give.

Condition and procedure codes are looked up once per (kind, system, code); lab codes are prepared
once per code sets; panels are read only when a component carries a set code; DiagnosticReports
are checked against the DXA report set only when their code is one of its codes.
"""

from __future__ import annotations

import pytest

from service.adapters.codesets import load_codesets
from tests.service.adapters.fhir_json import (
    ICD10CM,
    LOINC,
    SNOMED,
    SUBJECT,
    UCUM,
    Json,
    concept,
    condition,
    iso,
    obs,
    reasons,
    snapshot,
)

DXA_PROCEDURE = ("http://snomed.info/sct", "312681000")  # a DXA procedure code (2.2)


def _procedure(system: str, code: str) -> Json:
    return {
        "resourceType": "Procedure", "id": "pr1", "status": "completed", "code": concept(system, code),
        "subject": SUBJECT, "performedDateTime": iso(100),
    }  # fmt: skip


def test_the_same_code_read_again_gives_the_same_condition_record() -> None:
    first = snapshot(condition(ICD10CM, "M8008XA"))
    again = snapshot(condition(ICD10CM, "M8008XA", cid="c2"))
    assert first.conditions[0].codes == again.conditions[0].codes == ("M80.08XA",)
    assert first.conditions[0].sets == again.conditions[0].sets
    assert "OSTEOPOROSIS" in first.conditions[0].sets


@pytest.mark.parametrize("procedure_first", [True, False])
def test_a_code_read_as_a_procedure_and_as_a_condition_is_looked_up_for_each(procedure_first: bool) -> None:
    def as_procedure() -> None:
        snap = snapshot(_procedure(*DXA_PROCEDURE))
        assert [e.source for e in snap.dxa_events] == ["procedure"]

    def as_condition() -> None:
        snap = snapshot(condition(*DXA_PROCEDURE))
        assert snap.conditions == ()

    for check in (as_procedure, as_condition) if procedure_first else (as_condition, as_procedure):
        check()


def test_a_ckd_stage_comes_from_any_coding_of_a_condition() -> None:
    c = condition(ICD10CM, "E21.0")
    c["code"]["coding"].append({"system": ICD10CM, "code": "N18.4"})
    record = snapshot(c).conditions[0]
    assert record.ckd_stage == "G4"
    assert record.codes == ("E21.0", "N18.4")


def _panel(*components: Json, status: str = "final") -> Json:
    o = obs("85354-9", None, status=status)
    o["component"] = list(components)
    return o


def _component(code: str, value: float, unit: str) -> Json:
    return {
        "code": concept(LOINC, code),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def test_a_panel_without_set_codes_is_neither_used_nor_logged() -> None:
    snap = snapshot(_panel(_component("8480-6", 120, "mm[Hg]"), _component("8462-4", 80, "mm[Hg]")))
    assert snap.labs == ()
    assert snap.ignored == ()


@pytest.mark.parametrize(
    ("status", "labs", "logged"),
    [("final", 1, {}), ("preliminary", 0, {"Observation/o1": "status-preliminary"})],
)
def test_a_panel_with_a_set_code_in_a_component_is_read(
    status: str, labs: int, logged: dict[str, str]
) -> None:
    snap = snapshot(
        _panel(
            _component("8480-6", 120, "mm[Hg]"), _component("98979-8", 55, "mL/min/{1.73_m2}"), status=status
        )
    )
    assert len(snap.labs) == labs
    assert reasons(snap) == logged


@pytest.mark.parametrize(("system", "is_dxa"), [(LOINC, True), (SNOMED, False), ("urn:local", False)])
def test_a_report_is_a_dxa_report_only_with_a_dxa_report_code_in_its_system(
    system: str, is_dxa: bool
) -> None:
    report = {
        "resourceType": "DiagnosticReport", "id": "r1", "status": "final",
        "code": concept(system, "83311-1"), "effectiveDateTime": iso(400),
    }  # fmt: skip
    assert [e.source for e in snapshot(report).dxa_events] == (["report"] if is_dxa else [])


def test_lab_codes_are_prepared_once_per_code_sets() -> None:
    from service.adapters.observations import _prepared  # noqa: PLC0415 - the memo under test

    codesets = load_codesets()
    assert _prepared(codesets) is _prepared(codesets)
    assert set(_prepared(codesets)) == set(codesets.observation_index)
