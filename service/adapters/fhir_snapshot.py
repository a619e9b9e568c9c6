"""One patient's decoded FHIR resources → `rules.PatientSnapshot`: the seam between FHIR and the rules.

Everything FHIR-shaped is absorbed here, once, for every path (hooks, subscriptions, sweeps):
eligibility, units, code sets, references, dates, doses and routes. What is left out, and why,
goes to `snapshot.ignored` (together with the resources the decoder rejected).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from rules.codesets import CodeSets
from rules.findings import Ignored
from rules.params import Parameters
from rules.snapshot import DxaEvent, Hook, LabResult, PatientSnapshot
from service.adapters import fhir_model as fm
from service.adapters.conditions import ConditionReader
from service.adapters.fhir_assemble import PatientResources
from service.adapters.fhir_time import parse_date, parse_datetime
from service.adapters.medications import MedicationReader
from service.adapters.observations import ObservationReader

SEXES = frozenset({"female", "male", "other", "unknown"})
REPORT_EVENT_STATUSES = frozenset({"final", "amended", "corrected", "appended"})


def _report_effective(r: fm.DiagnosticReport) -> datetime | None:
    period = r.effective_period
    for text in (
        r.effective_date_time,
        period.end if period else None,
        period.start if period else None,
        r.issued,
    ):
        if text is not None:
            return parse_datetime(text)
    return None


@lru_cache(maxsize=8)
def _dxa_report_codes(codesets: CodeSets) -> frozenset[str]:
    """The codes of the DXA report set, whatever their system: most reports are not DXA reports."""
    return frozenset(code for _, code in codesets.dxa_reports)


def _is_dxa_report(r: fm.DiagnosticReport, codesets: CodeSets, codes: frozenset[str]) -> bool:
    """`codes`: `_dxa_report_codes(codesets)`, looked up once per patient by the caller."""
    if r.code is None:
        return False
    for c in r.code.coding:  # a loop, not any(<generator>): most reports are lab panels
        code = c.code
        if code and code in codes and codesets.is_dxa_report(c.system, code):
            return True
    return False


def _reports(
    reports: tuple[fm.DiagnosticReport, ...], codesets: CodeSets
) -> tuple[dict[str, str], list[DxaEvent], list[Ignored]]:
    """Observation ref → its report (albumin pairing, 3.2), and DXA reports 83311-1 as DXA events."""
    report_of: dict[str, str] = {}
    events: list[DxaEvent] = []
    ignored: list[Ignored] = []
    if not reports:
        return report_of, events, ignored
    dxa_codes = _dxa_report_codes(codesets)
    for r in reports:
        if r.status == "entered-in-error":
            continue
        ref = r.ref
        for result in r.result:
            if result.reference:
                report_of.setdefault(result.reference, ref)
        if not _is_dxa_report(r, codesets, dxa_codes):
            continue
        if r.status not in REPORT_EVENT_STATUSES:
            ignored.append(Ignored(r.ref, f"status-{r.status or 'missing'}"))
            continue
        try:
            effective = _report_effective(r)
        except ValueError as exc:
            ignored.append(Ignored(r.ref, f"invalid-resource: DiagnosticReport: {exc}"))
            continue
        if effective is None:
            ignored.append(Ignored(r.ref, "no-effective-time"))
        else:
            events.append(DxaEvent(r.ref, effective, "report"))
    return report_of, events, ignored


def _race_based(labs: list[LabResult], race: dict[int, str]) -> list[Ignored]:
    """Legacy race-specific eGFR pairs of one draw: the non-black value is used (2.1); log the other."""
    if not race:
        return []
    by_time: dict[datetime, set[str]] = {}
    for lab in labs:
        if id(lab) in race:
            by_time.setdefault(lab.effective, set()).add(race[id(lab)])
    return [
        Ignored(lab.reference, "race-based-egfr")
        for lab in labs
        if race.get(id(lab)) == "black" and "non-black" in by_time.get(lab.effective, set())
    ]


def build_snapshot(
    resources: PatientResources,
    *,
    at: datetime,
    hook: Hook,
    selections: frozenset[str] | None,
    codesets: CodeSets,
    params: Parameters,
) -> PatientSnapshot:
    patient = resources.patient
    birth = parse_date(patient.birth_date) if patient.birth_date else None  # checked when decoded
    sex = patient.gender if patient.gender in SEXES else "unknown"
    report_of, report_events, ignored = _reports(resources.diagnostic_reports, codesets)

    obs = ObservationReader(codesets, params, sex, birth, report_of)
    obs.read_all(resources.observations)
    # Most patients have no medication record, Condition or Procedure: no reader for those.
    uses = (
        resources.medication_requests,
        resources.medication_statements,
        resources.medication_administrations,
    )
    meds: MedicationReader | None = None
    if any(uses):
        meds = MedicationReader(codesets, hook, resources.medications)
        for records in uses:
            for use in records:
                meds.read(use)
    cond: ConditionReader | None = None
    if resources.conditions or resources.procedures:
        cond = ConditionReader(codesets)
        for c in resources.conditions:
            cond.condition(c)
        procedure_codes = codesets.procedure_code_values
        for p in resources.procedures:
            if p.code is not None:
                for coding in p.code.coding:
                    if coding.code in procedure_codes:
                        cond.procedure(p)
                        break

    return PatientSnapshot(
        patient=patient.ref,
        at=at,
        hook=hook,
        birth_date=birth,
        sex=sex,
        deceased=bool(patient.deceased_boolean),
        deceased_at=parse_datetime(patient.deceased_date_time) if patient.deceased_date_time else None,
        labs=tuple(obs.labs),
        dxa_scores=tuple(obs.scores),
        dxa_events=(*obs.events, *report_events, *(cond.events if cond else ())),
        medications=tuple(meds.exposures) if meds else (),
        draft_orders=tuple(meds.drafts) if meds else (),
        selections=selections,
        conditions=tuple(cond.conditions) if cond else (),
        procedures=tuple(cond.procedures) if cond else (),
        ignored=(
            *resources.rejected,
            *ignored,
            *obs.ignored,
            *_race_based(obs.labs, obs.race),
            *(meds.ignored if meds else ()),
            *(cond.ignored if cond else ()),
        ),
    )
