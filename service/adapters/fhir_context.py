"""One patient's context, fetched from the EHR's FHIR server for background evaluation.

The same data the CDS Hooks prefetch asks for (`cds_discovery.prefetch_templates`), with the look-back
windows of RULES.md 8 applied by the server this time: the Patient; the rules' laboratory Observations
by code over the lab look-back (3 years by default) and the DXA Observations and reports over the DXA
look-back (5 years); MedicationRequest, MedicationStatement and MedicationAdministration with their
Medications (`_include`); Condition; Procedure. The searches run concurrently and every page is
followed; the pages then go through the one decoder and assembly of all paths (`Decoded`, `assemble`).

Failures are `FhirClientError`s: transient ones (timeouts, 429, 5xx) are retried by the caller, the
others (404 for the patient, 400 for a query the server refuses) are recorded as failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from rules.codesets import CodeSets
from service.adapters.cds_discovery import dxa_report_tokens, observation_tokens
from service.adapters.fhir_assemble import FhirInputError, PatientResources, assemble
from service.adapters.fhir_client import FhirClient, FhirClientError
from service.adapters.fhir_decode import Decoded
from service.adapters.fhir_resources_out import is_fhir_id
from service.adapters.notifications import patient_of, relative_reference

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """The searches of one patient's context (code tokens computed once per process)."""

    lab_tokens: tuple[str, ...]
    dxa_tokens: tuple[str, ...]
    report_tokens: tuple[str, ...]
    lab_days: int = 1095
    dxa_days: int = 1825

    @classmethod
    def build(cls, codesets: CodeSets, *, lab_days: int = 1095, dxa_days: int = 1825) -> ContextPlan:
        # The discovery document's own token lists, split: labs alone, DXA scores alone.
        labs = observation_tokens(dataclasses.replace(codesets, dxa={}))
        dxa = observation_tokens(dataclasses.replace(codesets, labs={}))
        return cls(tuple(labs), tuple(dxa), tuple(dxa_report_tokens(codesets)), lab_days, dxa_days)

    def queries(self, patient_id: str, at: datetime) -> dict[str, str]:
        """Query name → relative search URL (or the Patient read)."""
        labs_since = (at - timedelta(days=self.lab_days)).date().isoformat()
        dxa_since = (at - timedelta(days=self.dxa_days)).date().isoformat()
        by_patient = f"patient={patient_id}"
        queries = {
            "patient": f"Patient/{patient_id}",
            "labs": f"Observation?{by_patient}&code={','.join(self.lab_tokens)}&date=ge{labs_since}",
            "dxa": f"Observation?{by_patient}&code={','.join(self.dxa_tokens)}&date=ge{dxa_since}",
            "dxaReports": (
                f"DiagnosticReport?{by_patient}&code={','.join(self.report_tokens)}&date=ge{dxa_since}"
            ),
            "conditions": f"Condition?{by_patient}",
            "procedures": f"Procedure?{by_patient}",
        }
        for kind in MEDICATION_TYPES:
            queries[kind] = f"{kind}?{by_patient}&_include={kind}:medication"
        if not self.dxa_tokens:
            del queries["dxa"]
        return queries


def _first_failure(errors: list[FhirClientError]) -> FhirClientError:
    # A permanent failure wins: retrying the other searches would not make this one succeed.
    permanent = [e for e in errors if not e.transient]
    return (permanent or errors)[0]


def absolute(client: FhirClient, path: str) -> str:
    """`path` as an absolute URL under the client's base (code tokens hold "http://": an explicit
    absolute URL leaves no doubt about where the search goes)."""
    return f"{client.base_url.rstrip('/')}/{path.lstrip('/')}"


async def _run(client: FhirClient, queries: Mapping[str, str]) -> dict[str, list[bytes]]:
    got: dict[str, list[bytes]] = {}

    async def one(name: str, query: str) -> None:
        url = absolute(client, query)
        got[name] = await client.search(url) if "?" in query else [await client.get(url)]

    try:
        async with asyncio.TaskGroup() as group:
            for name, query in queries.items():
                group.create_task(one(name, query))
    except* FhirClientError as errors:
        raise _first_failure([e for e in errors.exceptions if isinstance(e, FhirClientError)]) from None
    return got


async def fetch_patient_context(
    client: FhirClient, patient_id: str, *, at: datetime, plan: ContextPlan
) -> PatientResources:
    """The patient's resources as of `at`; `FhirClientError` or `FhirInputError` when not had."""
    if not is_fhir_id(patient_id):
        raise FhirInputError(f"{patient_id!r} is not a FHIR id")
    queries = plan.queries(patient_id, at)
    pages = await _run(client, queries)
    out = Decoded()
    for name in queries:
        for n, page in enumerate(pages[name], start=1):
            out.add(page, f"{name} (page {n})", None)
    resources = assemble(out.by_type, out.rejected, out.refs)
    patient = resources.patient
    if patient.id is None:
        patient.id, patient.ref = patient_id, f"Patient/{patient_id}"
    elif patient.id != patient_id:
        raise FhirInputError(f"Patient/{patient_id} was asked for, Patient/{patient.id} was returned")
    return resources


class NoPatientError(ValueError):
    """The focus of a notification is about no Patient: there is nothing to evaluate."""


async def resolve_patient(client: FhirClient, focus: str) -> str:
    """The Patient id a notification's focus ("Observation/o1", or an absolute URL) is about."""
    reference = relative_reference(focus)
    if reference is None:
        raise NoPatientError(f"{focus!r} is not a resource reference")
    if reference.startswith("Patient/"):
        return reference.removeprefix("Patient/")
    body = await client.get(reference)
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FhirInputError(
            f"{reference}: the FHIR server answered with something other than JSON"
        ) from None
    patient = patient_of(resource) if isinstance(resource, dict) else None
    if patient is None:
        raise NoPatientError(f"{reference} is about no Patient")
    return patient
