"""Decoded resources → one patient's `PatientResources` (the one-Patient checks, references).

References are resolved here, once: DiagnosticReport.result, Observation.specimen and
medicationReference point to canonical "Type/id" references afterwards, and contained Medications
are keyed "<container ref>#<id>". Resources about another Patient are left out (`other-patient`).
A resource that appears twice (e.g. in two prefetch searches) is kept once, the last copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, cast

import msgspec

from rules.findings import Ignored
from service.adapters import fhir_model as fm
from service.adapters.fhir_refs import References
from service.adapters.fhir_time import parse_date, parse_datetime

R = TypeVar("R", bound=fm.Resource)
Subjected = TypeVar(
    "Subjected",
    fm.Observation, fm.DiagnosticReport, fm.Condition, fm.Procedure, fm.MedicationRequest,
    fm.MedicationStatement, fm.MedicationAdministration,
)  # fmt: skip
MedUse = TypeVar("MedUse", fm.MedicationRequest, fm.MedicationStatement, fm.MedicationAdministration)
_MEDICATION = msgspec.json.Decoder(fm.Medication)
_HEAD = msgspec.json.Decoder(fm.Head)


class FhirInputError(ValueError):
    """Input that is not one patient's FHIR data; `str(e)` says, in one line, what and where."""


@dataclass(frozen=True)
class PatientResources:
    """One patient's resources, decoded into the typed subsets the rules read."""

    patient: fm.Patient
    observations: tuple[fm.Observation, ...] = ()
    diagnostic_reports: tuple[fm.DiagnosticReport, ...] = ()
    medication_requests: tuple[fm.MedicationRequest, ...] = ()
    medication_statements: tuple[fm.MedicationStatement, ...] = ()
    medication_administrations: tuple[fm.MedicationAdministration, ...] = ()
    medications: Mapping[str, fm.Medication] = field(default_factory=dict)  # ref, fullUrl, ref#id
    conditions: tuple[fm.Condition, ...] = ()
    procedures: tuple[fm.Procedure, ...] = ()
    rejected: tuple[Ignored, ...] = ()  # "invalid-resource: <why>", "other-patient: <why>"


def patient_date_problem(p: fm.Patient) -> str | None:
    """Patient dates are checked when decoded, so that a bad birthDate rejects the Patient (as the
    R4B models do) instead of silently making the age unknown."""
    for name, text, parse in (
        ("birthDate", p.birth_date, parse_date),
        ("deceasedDateTime", p.deceased_date_time, parse_datetime),
    ):
        if text is not None:
            try:
                parse(text)
            except ValueError as exc:
                return f"invalid-resource: Patient.{name}: {exc}"
    return None


def _the_patient(patients: Iterable[fm.Resource], rejected: list[Ignored]) -> fm.Patient:
    valid: dict[str, fm.Patient] = {}
    for r in patients:
        if isinstance(r, fm.Patient):
            problem = patient_date_problem(r)
            if problem is None:
                valid[r.ref] = r
            else:
                rejected.append(Ignored(r.ref, problem))
    if len(valid) > 1:
        names = ", ".join(sorted(valid)[:3])
        raise FhirInputError(f"more than one Patient in the input ({names}): one patient per request")
    if not valid:
        bad = [i for i in rejected if i.reference.startswith("Patient")]
        if bad:
            raise FhirInputError(f"no valid Patient: {bad[0].reason.removeprefix('invalid-resource: ')}")
        raise FhirInputError("no Patient resource in the input")
    return next(iter(valid.values()))


def _contained(use: fm.MedicationUse, medications: dict[str, fm.Medication]) -> None:
    """Contained Medications, keyed "<container ref>#<id>" (what "#id" references resolve to)."""
    for raw in use.contained:
        try:
            head = _HEAD.decode(raw)
            if head.resource_type != "Medication" or not head.id:
                continue
            med = _MEDICATION.decode(raw)
        except msgspec.DecodeError:
            continue  # a contained resource we cannot read is as good as absent
        med.ref = f"{use.ref}#{head.id}"
        medications[med.ref] = med


class _Subjects:
    """Leaves out resources about another Patient (`other-patient`)."""

    def __init__(self, patient: fm.Patient, refs: References, rejected: list[Ignored]) -> None:
        self.ref = patient.ref
        self.check = patient.id is not None  # an id-less Patient cannot be told apart
        self.refs = refs
        self.rejected = rejected

    def keep(self, group: list[Subjected]) -> list[Subjected]:
        if not self.check or not group:  # most patients have no resources of several types
            return group
        mine = self.ref
        out = []
        for r in group:
            subject = r.subject
            if subject is None:
                out.append(r)
                continue
            target = subject.reference
            if target is not None and target != mine:
                target = self.refs.resolve(target)
                if target.startswith("Patient/") and target != mine:
                    self.rejected.append(Ignored(r.ref, f"other-patient: subject is {target}, not {mine}"))
                    continue
            out.append(r)
        return out


def _unique(group: list[R]) -> list[R]:
    """The last copy of a resource that appears twice (e.g. in two prefetch searches) wins."""
    if len(group) < 2:
        return group
    unique = {r.ref: r for r in group}
    return group if len(unique) == len(group) else list(unique.values())


def _medication_uses(
    group: list[MedUse], medications: dict[str, fm.Medication], refs: References
) -> tuple[MedUse, ...]:
    for use in group:
        if use.contained:
            _contained(use, medications)
        target = use.medication_reference.reference if use.medication_reference else None
        if target and use.medication_reference is not None:
            local = target.startswith("#")
            use.medication_reference.reference = f"{use.ref}{target}" if local else refs.resolve(target)
    return tuple(group)


def assemble(
    by_type: Mapping[type[fm.Resource], list[fm.Resource]],
    rejected: Iterable[Ignored],
    refs: References,
) -> PatientResources:
    """Check there is exactly one Patient, resolve references, keep one copy of each resource."""
    rejected = list(rejected)
    patient = _the_patient(by_type.get(fm.Patient, ()), rejected)
    subjects = _Subjects(patient, refs, rejected)

    def of(kind: type[R]) -> list[R]:
        group = by_type.get(kind)
        return _unique(cast(list[R], group)) if group else []

    medications = {m.ref: m for m in of(fm.Medication)}
    observations = subjects.keep(of(fm.Observation))
    for o in observations:
        if o.specimen is not None and o.specimen.reference:
            o.specimen.reference = refs.resolve(o.specimen.reference)
    reports = subjects.keep(of(fm.DiagnosticReport))
    aliases = refs.aliases
    for r in reports:
        for result in r.result:
            target = result.reference
            if target and (target in aliases or target.count("/") != 1):
                result.reference = refs.resolve(target)
    requests = _medication_uses(subjects.keep(of(fm.MedicationRequest)), medications, refs)
    statements = _medication_uses(subjects.keep(of(fm.MedicationStatement)), medications, refs)
    administrations = _medication_uses(subjects.keep(of(fm.MedicationAdministration)), medications, refs)
    for alias, ref in refs.aliases.items():
        if ref in medications:
            medications[alias] = medications[ref]
    return PatientResources(
        patient=patient,
        observations=tuple(observations),
        diagnostic_reports=tuple(reports),
        medication_requests=requests,
        medication_statements=statements,
        medication_administrations=administrations,
        medications=medications,
        conditions=tuple(subjects.keep(of(fm.Condition))),
        procedures=tuple(subjects.keep(of(fm.Procedure))),
        rejected=tuple(rejected),
    )


def patient_reference(resource: fm.Resource, refs: References | None = None) -> str | None:
    """The Patient a resource is about ("Patient/<id>"), for grouping NDJSON by patient."""
    if isinstance(resource, fm.Patient):
        return resource.ref
    subject = getattr(resource, "subject", None)
    if not isinstance(subject, fm.Reference) or not subject.reference:
        return None
    target = refs.resolve(subject.reference) if refs is not None else subject.reference
    return target if target.startswith("Patient/") else None


def assemble_by_patient(
    items: Iterable[fm.Resource | Ignored],
) -> dict[str, PatientResources | FhirInputError]:
    """Group NDJSON-decoded resources (`iter_ndjson_resources`) by Patient and assemble each group.

    Resources that name no Patient, and line-level rejections, belong to no group and are dropped.
    """
    groups: dict[str, dict[type[fm.Resource], list[fm.Resource]]] = {}
    for item in items:
        if isinstance(item, fm.Resource):
            owner = patient_reference(item)
            if owner is not None:
                groups.setdefault(owner, {}).setdefault(type(item), []).append(item)
    out: dict[str, PatientResources | FhirInputError] = {}
    for owner, by_type in groups.items():
        try:
            out[owner] = assemble(by_type, (), References())
        except FhirInputError as exc:
            out[owner] = exc
    return out
