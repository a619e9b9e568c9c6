"""Findings written back to the EHR as FHIR `DetectedIssue`s, by conditional create.

The DetectedIssue (built, then validated with the fhir.resources R4B model): status `final`; `code`
the rule id in the project's rule code system (the card's `source.topic`); `severity` high / moderate
/ low from critical / warning / info; `patient`; `identifiedDateTime` (when the finding was first
made); `implicated` the evidence resources (Observations first); `detail` the card summary;
`reference` the guideline URL; and an `identifier` stable for (patient, rule id, evidence).

POST with `If-None-Exist: identifier=<system>|<value>`: the server creates the resource only when no
DetectedIssue has that identifier, so retries, redeliveries and replays never duplicate it. 201 is
created, 200 already there; 412 (several match) also means it is there. The same identifiers serve
the population sweeps' `--write-back`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
import pydantic
from fhir.resources.R4B.detectedissue import DetectedIssue

from service.adapters.cds_cards import rule_coding, rule_title
from service.adapters.fhir_client import FhirClient, error_for
from service.adapters.fhir_resources_out import patient_reference
from service.adapters.notifications import split_reference
from service.ports import StoredAlert

IDENTIFIER_SYSTEM = "https://osteoalert.org/fhir/identifier/detected-issue"
FHIR_JSON = "application/fhir+json"
SEVERITY: Mapping[str, str] = {"critical": "high", "warning": "moderate", "info": "low"}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, IDENTIFIER_SYSTEM)


def detected_issue_identifier(
    patient: str, rule_id: str, evidence: Sequence[str], *, index_key: str = ""
) -> str:
    """uuid5 of (patient, rule id, the evidence references in order-free form).

    A finding without evidence is identified by its index key instead, so it still has one identity.
    """
    basis = ",".join(sorted(set(evidence))) or f"index:{index_key}"
    return str(uuid.uuid5(_NAMESPACE, f"{patient_reference(patient)}|{rule_id}|{basis}"))


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _implicated(evidence: Sequence[str]) -> list[dict[str, str]]:
    refs = []
    for reference in dict.fromkeys(evidence):
        split = split_reference(reference)
        if split is not None:
            refs.append(f"{split[0]}/{split[1]}")
    refs.sort(key=lambda r: not r.startswith("Observation/"))  # stable: evidence order kept within
    return [{"reference": r} for r in refs]


def _guideline(payload: Mapping[str, Any]) -> str | None:
    for ref in payload.get("references") or ():
        url = ref.get("url") if isinstance(ref, Mapping) else None
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
    return None


def build_detected_issue(alert: StoredAlert) -> dict[str, Any]:
    """The DetectedIssue JSON of a stored alert, validated with the R4B model (ValueError if not)."""
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": alert.identifier}],
        "status": "final",
        "code": {"coding": [rule_coding(alert.rule_id)], "text": rule_title(alert.rule_id)},
        "severity": SEVERITY[alert.indicator],
        "patient": {"reference": patient_reference(alert.patient)},
        "identifiedDateTime": _iso(alert.created_at),
        "detail": alert.summary,
    }
    implicated = _implicated(alert.evidence)
    if implicated:
        resource["implicated"] = implicated
    guideline = _guideline(alert.payload)
    if guideline is not None:
        resource["reference"] = guideline
    try:
        DetectedIssue.model_validate(resource)
    except pydantic.ValidationError as exc:
        raise ValueError(f"DetectedIssue rejected by the R4B model: {exc.errors()[0]['msg']}") from None
    return resource


def if_none_exist(resource: Mapping[str, Any]) -> str:
    identifier = resource["identifier"][0]
    return f"identifier={identifier['system']}|{identifier['value']}"


@dataclass(frozen=True, slots=True)
class WriteBack:
    outcome: Literal["created", "exists"]
    location: str | None = None


async def write_detected_issue(client: FhirClient, resource: Mapping[str, Any]) -> WriteBack:
    """Conditional create; `FhirClientError` (transient or not) when the server refuses it."""
    response = await client.send(
        "POST",
        "DetectedIssue",
        content=orjson.dumps(resource),
        headers={
            "Content-Type": FHIR_JSON,
            "If-None-Exist": if_none_exist(resource),
            "Prefer": "return=minimal",
        },
    )
    location = response.headers.get("location")
    if response.status_code == httpx.codes.CREATED:
        return WriteBack("created", location)
    if response.status_code in (httpx.codes.OK, httpx.codes.PRECONDITION_FAILED):
        return WriteBack("exists", location)
    raise error_for(response)
