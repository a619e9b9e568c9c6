"""The patient's data for a hook call: the EHR's prefetch, completed from its fhirServer.

Prefetch is a hint (CDS Hooks 2.0): each discovery key whose value is missing, null or an
OperationOutcome is fetched from `fhirServer` with the `fhirAuthorization` bearer token (its template
rendered with the context, paged searchsets followed to the end). All fetches run at once under ONE
overall deadline. When a key cannot be had (no fhirServer, an error, the deadline), the call fails
with `PrefetchUnavailableError` (412): evaluating what is left would turn missing data into false
cards ("no DXA on record", "PTH never measured").

For order hooks, the draft orders are those of `context.draftOrders`: draft MedicationRequests found
in the prefetch or on the server but not in the context are left out (they are not being signed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx
import msgspec

from service.adapters import fhir_model as fm
from service.adapters.cds_request import CdsRequestError, HookRequest, resource_type_of
from service.adapters.fhir_assemble import PatientResources, assemble
from service.adapters.fhir_client import FhirClient, FhirClientError
from service.adapters.fhir_decode import Decoded, read_document


class PrefetchUnavailableError(Exception):
    """Prefetch keys that were not given and could not be fetched: answered 412."""

    def __init__(self, keys: Sequence[str], why: str) -> None:
        self.keys = tuple(keys)
        self.why = why
        super().__init__(
            f"prefetch {', '.join(self.keys)} not provided and not fetched from fhirServer: {why}"
        )


@dataclass(frozen=True, slots=True)
class PatientData:
    resources: PatientResources
    fetched: tuple[str, ...]  # the prefetch keys read from fhirServer


def render(template: str, request: HookRequest) -> str:
    """A prefetch template with its context tokens filled (patientId is a checked FHIR id)."""
    return template.replace("{{context.patientId}}", request.patient_id).replace(
        "{{context.userId}}", request.user_id
    )


def is_usable(value: msgspec.Raw | None) -> bool:
    """A prefetch value to read: a FHIR resource other than an OperationOutcome (error marker)."""
    if value is None:
        return False
    resource_type = resource_type_of(value)  # None for null, a string, a number: not data
    return resource_type is not None and resource_type != "OperationOutcome"


def _add_prefetch(out: Decoded, value: msgspec.Raw, where: str) -> bool:
    """Read a prefetch value into `out` when `is_usable`; False when it is not (the key is then
    fetched). A value that decodes in one call is read without a separate `is_usable` pass over
    it; any other goes the per-resource way (`Decoded.add`)."""
    fast = read_document(value, where)
    if fast is None:
        if not is_usable(value):
            return False
        out.add(value, where, None)
        return True
    resource_type, read = fast
    if resource_type == "OperationOutcome":
        return False
    out.merge(read)
    return True


async def _fetch(todo: Mapping[str, str], client: FhirClient, deadline: float) -> dict[str, list[bytes]]:
    """Every rendered query of `todo`, concurrently; the first failure or the deadline ends them all."""
    got: dict[str, list[bytes]] = {}

    async def one(key: str, path: str) -> None:
        got[key] = await client.search(path) if "?" in path else [await client.get(path)]

    failure: str | None = None
    try:
        async with asyncio.timeout(deadline):
            try:
                async with asyncio.TaskGroup() as group:
                    for key, path in todo.items():
                        group.create_task(one(key, path))
            except* FhirClientError as errors:
                failure = str(errors.exceptions[0])
    except TimeoutError:
        failure = f"the fhirServer did not answer within {deadline:g} s"
    if failure is not None:
        raise PrefetchUnavailableError([k for k in todo if k not in got], failure)
    return got


def _drop_stale_drafts(out: Decoded) -> None:
    requests = out.by_type.get(fm.MedicationRequest)
    if requests:
        out.by_type[fm.MedicationRequest] = [
            r for r in requests if not (isinstance(r, fm.MedicationRequest) and r.status == "draft")
        ]


def _checked_patient(resources: PatientResources, patient_id: str) -> None:
    patient = resources.patient
    if patient.id is None:  # a Patient read from Patient/{{context.patientId}} may omit its id
        patient.id, patient.ref = patient_id, f"Patient/{patient_id}"
    elif patient.id != patient_id:
        raise CdsRequestError(f"the Patient of the prefetch (Patient/{patient.id}) is not context.patientId")


async def gather_patient_data(
    request: HookRequest,
    templates: Mapping[str, str],
    *,
    http: httpx.AsyncClient,
    deadline: float,
) -> PatientData:
    """The patient's resources for `request`; `PrefetchUnavailableError`, `FhirInputError` or
    `CdsRequestError` when they cannot be had or are not one patient's FHIR data."""
    out = Decoded()
    todo: dict[str, str] = {}
    for key, template in templates.items():
        value = request.prefetch.get(key)
        if value is None or not _add_prefetch(out, value, f"prefetch.{key}"):
            todo[key] = render(template, request)
    if todo:
        if request.fhir_server is None:
            raise PrefetchUnavailableError(list(todo), "the request has no fhirServer")
        # Absolute URLs: FhirClient takes any text holding "://" for one, and the Observation
        # query does ("http://loinc.org|2731-8").
        base = request.fhir_server.rstrip("/")
        todo = {key: f"{base}/{path}" for key, path in todo.items()}
        client = FhirClient(request.fhir_server, http, request.access_token, timeout=deadline)
        pages = await _fetch(todo, client, deadline)
        for key in todo:
            for n, page in enumerate(pages[key], start=1):
                out.add_document(page, f"{key} (fhirServer page {n})")
    if request.draft_orders is not None:
        _drop_stale_drafts(out)
        out.add_document(request.draft_orders, "context.draftOrders")
    resources = assemble(out.by_type, out.rejected, out.refs)
    _checked_patient(resources, request.patient_id)
    return PatientData(resources, tuple(todo))
