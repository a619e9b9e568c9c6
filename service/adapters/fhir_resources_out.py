"""FHIR resources osteoalert emits, built and validated with the fhir.resources R4B models.

What we send into an EHR (the ServiceRequests of card suggestions now, DetectedIssue write-backs
later) must be valid FHIR: a client that rejects one resource may drop the whole card. Inbound
prefetch is never model-validated (too slow for the hook path); outbound resources are few and
their shape repeats, so each distinct shape is validated once with the R4B model and cached as
JSON bytes. Only the patient reference varies per call, and it is checked against the FHIR id
grammar before it is put in, so the cached validation stays valid for every patient.

R4B models are chosen here, once (STYLE.md: no dynamic FHIR-version picking).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
# Orderables without a standard code (referrals, local tests): sites map these codes to their own.
LOCAL_ORDERABLE_SYSTEM = "https://osteoalert.org/fhir/CodeSystem/orderable"

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PLACEHOLDER_SUBJECT = "Patient/placeholder"
_ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})
# ServiceRequest.intent has a required binding that the models do not enforce (request-intent).
_INTENTS = frozenset(
    {"proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order",
     "instance-order", "option"}
)  # fmt: skip


class OrderCategory(StrEnum):
    """ServiceRequest.category (the SNOMED CT codes of the US Core ServiceRequest category set)."""

    LAB = "lab"
    IMAGING = "imaging"
    REFERRAL = "referral"


_CATEGORY_CODINGS: dict[OrderCategory, tuple[str, str]] = {
    OrderCategory.LAB: ("108252007", "Laboratory procedure"),
    OrderCategory.IMAGING: ("363679005", "Imaging"),
    OrderCategory.REFERRAL: ("3457005", "Patient referral"),
}


def is_fhir_id(value: str) -> bool:
    """True when `value` matches the FHIR `id` grammar (1-64 of A-Z a-z 0-9 - .)."""
    return _FHIR_ID.fullmatch(value) is not None


def patient_reference(patient: str) -> str:
    """`Patient/<id>` from either `<id>` (CDS Hooks `context.patientId`) or `Patient/<id>`."""
    pid = patient.removeprefix("Patient/")
    if not is_fhir_id(pid):
        raise ValueError("patient id is not a valid FHIR id")
    return f"Patient/{pid}"


def local_code(label: str) -> str:
    """A stable local code from an orderable's label: lower-case words joined by hyphens."""
    return "-".join(re.findall(r"[a-z0-9]+", label.lower()))[:64] or "orderable"


def service_request(
    *,
    patient: str,
    text: str,
    code: str | None = None,
    system: str | None = None,
    display: str | None = None,
    category: OrderCategory | None = None,
    intent: str = "proposal",
    reason: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """A draft ServiceRequest for `patient`, validated with the R4B model, as a JSON-ready dict.

    `code`/`system`/`display` code the orderable (LOINC for labs and DXA); without a code the
    orderable gets a local code derived from `text` (referrals, local tests). `reason` is the
    (system, code, display) of the rule that suggested it. Raises `ValueError` for an invalid
    patient id and pydantic's `ValidationError` for anything the R4B model rejects.
    """
    subject = patient_reference(patient)
    if intent not in _INTENTS:
        raise ValueError(f"{intent!r} is not a ServiceRequest intent")
    data = orjson.loads(_validated_service_request(text, code, system, display, category, intent, reason))
    data["subject"] = {"reference": subject}
    return data  # type: ignore[no-any-return]


@lru_cache(maxsize=2048)
def _validated_service_request(
    text: str,
    code: str | None,
    system: str | None,
    display: str | None,
    category: OrderCategory | None,
    intent: str,
    reason: tuple[str, str, str] | None,
) -> bytes:
    if code is None:
        coding = {"system": LOCAL_ORDERABLE_SYSTEM, "code": local_code(text), "display": text}
    else:
        coding = {"system": system or LOINC, "code": code, **({"display": display} if display else {})}
    raw: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": intent,
    }
    if category is not None:
        cat_code, cat_display = _CATEGORY_CODINGS[category]
        raw["category"] = [{"coding": [{"system": SNOMED, "code": cat_code, "display": cat_display}]}]
    raw["code"] = {"coding": [coding], "text": text}
    raw["subject"] = {"reference": _PLACEHOLDER_SUBJECT}
    if reason is not None:
        r_system, r_code, r_display = reason
        raw["reasonCode"] = [
            {"coding": [{"system": r_system, "code": r_code, "display": r_display}], "text": r_display}
        ]
    model = ServiceRequest.model_validate(raw)
    return orjson.dumps(model.model_dump(mode="json", exclude_none=True))


def is_resource_type(name: str) -> bool:
    """True when `name` is a concrete R4B resource type (not a datatype, not an abstract base)."""
    if name in _ABSTRACT_RESOURCES:
        return False
    try:
        cls = get_fhir_model_class(name)
    except (ValueError, KeyError):
        return False
    return issubclass(cls, Resource)


def validate_resource(resource: dict[str, Any]) -> None:
    """Validate one FHIR resource (as JSON) with its R4B model; raise `ValueError` when invalid."""
    name = resource.get("resourceType")
    if not isinstance(name, str) or not is_resource_type(name):
        raise ValueError(f"unknown FHIR resource type {name!r}")
    cls = get_fhir_model_class(name)
    try:
        cls.model_validate(resource)
    except Exception as exc:  # pydantic ValidationError and fhir_core's own errors
        raise ValueError(f"invalid {name}: {exc}") from exc
