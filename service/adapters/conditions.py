"""Conditions and Procedures → `ConditionRecord`s and `ProcedureRecord`s (RULES.md 1.4, 2.3, 3.6).

Only records whose code is in a set are kept. A Condition counts unless its verificationStatus is
refuted or entered-in-error; it is active when its clinicalStatus is active, recurrence or relapse,
or absent. A Procedure counts when completed; a DXA procedure is also DXA-on-record (10.1 #14).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from rules.codesets import ICD10CM, CodeSets, normalise_icd10
from rules.findings import Ignored
from rules.snapshot import ConditionRecord, DxaEvent, ProcedureRecord
from service.adapters import fhir_model as fm
from service.adapters.fhir_time import parse_datetime

ACTIVE = frozenset({"active", "recurrence", "relapse"})
NOT_COUNTING = frozenset({"refuted", "entered-in-error"})


Found = tuple[frozenset[str], str, str | None]  # (sets, the code as shown, CKD stage)


class _Lookups:
    """What a (system, code) pair means for the condition and procedure sets, remembered per pair:
    a population repeats the same few hundred codes, and ICD-10-CM matching walks every prefix."""

    MAX = 8192  # (kind, system, code) triples remembered

    def __init__(self, codesets: CodeSets) -> None:
        self.codesets = codesets
        self.memo: dict[tuple[bool, str | None, str], Found] = {}

    def find(self, procedure: bool, system: str | None, code: str) -> Found:
        key = (procedure, system, code)
        found = self.memo.get(key)
        if found is None:
            cs = self.codesets
            sets = (cs.procedure_sets if procedure else cs.condition_sets)(system, code)
            shown = normalise_icd10(code) if cs.alias(system) == ICD10CM else code
            stage = None if procedure else cs.ckd_stage(system, code)
            found = (sets, shown, stage)
            if len(self.memo) < self.MAX:
                self.memo[key] = found
        return found


@lru_cache(maxsize=8)
def _lookups(codesets: CodeSets) -> _Lookups:
    return _Lookups(codesets)


def _status_code(concept: fm.CodeableConcept | None) -> str | None:
    if concept is None:
        return None
    for coding in concept.coding:
        if coding.code:
            return coding.code
    return concept.text.lower() if concept.text else None


def _display(concept: fm.CodeableConcept | None, codes: Iterable[str]) -> str:
    if concept is not None:
        if concept.text:
            return concept.text
        for coding in concept.coding:
            if coding.display:
                return coding.display
    return ", ".join(codes)


def _time(name: str, *texts: str | None) -> datetime | None:
    for text in texts:
        if text is not None:
            try:
                return parse_datetime(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    return None


@dataclass
class ConditionReader:
    codesets: CodeSets
    conditions: list[ConditionRecord] = field(default_factory=list)
    procedures: list[ProcedureRecord] = field(default_factory=list)
    events: list[DxaEvent] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)

    def _sets(
        self, concept: fm.CodeableConcept | None, procedure: bool
    ) -> tuple[frozenset[str], list[str], str | None]:
        find = _lookups(self.codesets).find
        if concept is not None and len(concept.coding) == 1:
            # The common case, one coding: its sets as they are, without building a new set.
            code = concept.coding[0].code
            if code:
                found, shown, stage = find(procedure, concept.coding[0].system, code)
                return found, [shown] if found else [], stage
        sets: set[str] = set()
        codes: list[str] = []
        stage = None
        for coding in concept.coding if concept is not None else ():
            if not coding.code:
                continue
            found, shown, coding_stage = find(procedure, coding.system, coding.code)
            if found:
                sets |= found
                codes.append(shown)
            stage = stage or coding_stage
        return frozenset(sets), codes, stage

    def condition(self, c: fm.Condition) -> None:
        sets, codes, stage = self._sets(c.code, procedure=False)
        if not sets:
            return
        verification = _status_code(c.verification_status)
        if verification in NOT_COUNTING:
            self.ignored.append(Ignored(c.ref, f"verification-{verification}"))
            return
        clinical = _status_code(c.clinical_status)
        period = c.onset_period
        try:
            onset = _time(
                "Condition.onset", c.onset_date_time, period.start if period else None, c.recorded_date
            )
        except ValueError as exc:
            self.ignored.append(Ignored(c.ref, f"invalid-resource: {exc}"))
            return
        self.conditions.append(
            ConditionRecord(
                reference=c.ref, sets=sets, active=clinical is None or clinical in ACTIVE,
                codes=tuple(codes), display=_display(c.code, codes), ckd_stage=stage, onset=onset,
            )
        )  # fmt: skip

    def procedure(self, p: fm.Procedure) -> None:
        sets, codes, _ = self._sets(p.code, procedure=True)
        if not sets:
            return
        if p.status != "completed":
            self.ignored.append(Ignored(p.ref, f"status-{p.status or 'missing'}"))
            return
        period = p.performed_period
        try:
            performed = _time(
                "Procedure.performed", p.performed_date_time,
                period.end if period else None, period.start if period else None,
            )  # fmt: skip
        except ValueError as exc:
            self.ignored.append(Ignored(p.ref, f"invalid-resource: {exc}"))
            return
        self.procedures.append(ProcedureRecord(p.ref, sets, performed, _display(p.code, codes)))
        if "DXA" in sets:
            if performed is None:
                self.ignored.append(Ignored(p.ref, "no-effective-time"))
            else:
                self.events.append(DxaEvent(p.ref, performed, "procedure"))
