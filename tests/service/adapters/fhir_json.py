"""Small hand-made FHIR R4 JSON for the adapter tests, and a one-call path to a snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from rules import Hook, Parameters, PatientSnapshot
from service.adapters.codesets import load_codesets
from service.adapters.fhir_decode import read_patient_bundle
from service.adapters.fhir_snapshot import build_snapshot

Json = dict[str, Any]

T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SUBJECT = {"reference": "Patient/p1"}


def iso(days_ago: float = 0, *, hours_ago: float = 0) -> str:
    return (T - timedelta(days=days_ago, hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def concept(system: str, code: str, display: str = "", text: str | None = None) -> Json:
    out: Json = {"coding": [{"system": system, "code": code, "display": display or code}]}
    if text is not None:
        out["text"] = text
    return out


def patient(
    pid: str = "p1", *, gender: str = "female", birth: str | None = "1960-06-01", **more: Any
) -> Json:
    p: Json = {"resourceType": "Patient", "id": pid, "gender": gender}
    if birth is not None:
        p["birthDate"] = birth
    return p | more


def obs(
    code: str,
    value: float | None,
    unit: str | None = None,
    *,
    oid: str = "o1",
    ucum: str | None = None,
    days_ago: float = 1,
    status: str = "final",
    **more: Any,
) -> Json:
    """A LOINC Observation with a valueQuantity; `ucum` defaults to the printed unit."""
    o: Json = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": concept(LOINC, code),
        "subject": SUBJECT,
        "effectiveDateTime": iso(days_ago),
    }
    if value is not None:
        q: Json = {"value": value}
        if unit is not None:
            q["unit"] = unit
        if ucum is not None or unit is not None:
            q |= {"system": UCUM, "code": ucum if ucum is not None else unit}
        o["valueQuantity"] = q
    return o | more


def condition(system: str, code: str, *, cid: str = "c1", **more: Any) -> Json:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": concept(system, code),
        "subject": SUBJECT,
    } | more


def med_request(
    medication: Json | None = None,
    *,
    mid: str = "m1",
    status: str = "active",
    intent: str = "order",
    authored_days_ago: float = 30,
    **more: Any,
) -> Json:
    r: Json = {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": intent,
        "subject": SUBJECT,
        "authoredOn": iso(authored_days_ago),
    }
    if medication is not None:
        r["medicationCodeableConcept"] = medication
    return r | more


def dosage(
    dose: float | None = None,
    unit: str | None = "mg",
    *,
    frequency: int = 1,
    period: float = 1,
    period_unit: str = "d",
    route: Json | None = None,
    **more: Any,
) -> Json:
    d: Json = {"timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": period_unit}}}
    if dose is not None:
        q: Json = {"value": dose}
        if unit is not None:
            q |= {"unit": unit, "system": UCUM, "code": unit}
        d["doseAndRate"] = [{"doseQuantity": q}]
    if route is not None:
        d["route"] = route
    return d | more


def bundle(*resources: Json, kind: str = "collection", with_patient: bool = True) -> bytes:
    entries = ([patient()] if with_patient else []) + list(resources)
    return orjson.dumps({"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in entries]})


def snapshot(
    *resources: Json,
    hook: Hook = Hook.PATIENT_VIEW,
    selections: frozenset[str] | None = None,
    params: Parameters | None = None,
    with_patient: bool = True,
    strict: bool = False,
) -> PatientSnapshot:
    """Decode a collection Bundle of these resources (plus Patient/p1) and build its snapshot."""
    return build_snapshot(
        read_patient_bundle(bundle(*resources, with_patient=with_patient), strict=strict),
        at=T,
        hook=hook,
        selections=selections,
        codesets=load_codesets(),
        params=params or Parameters(),
    )


def reasons(snap: PatientSnapshot) -> dict[str, str]:
    """reference → reason of everything the snapshot ignored."""
    return {i.reference: i.reason for i in snap.ignored}
