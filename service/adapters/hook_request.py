"""Turn one patient's FHIR Bundle into a CDS Hooks request with a full prefetch.

For trying the service by hand (`osteoalert hook-request FILE | curl ... -d @-`) and for the hooks
benchmark: the prefetch holds what an EHR would have answered to our discovery templates.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

import orjson

from rules import Hook
from service.adapters.fhir_shift import shift_dates as _shift

_KEY_BY_TYPE = {
    "Observation": "observations",
    "Condition": "conditions",
    "MedicationRequest": "medications",
    "MedicationStatement": "medicationStatements",
    "MedicationAdministration": "medicationAdministrations",
    "Procedure": "procedures",
    "DiagnosticReport": "diagnosticReports",
}


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def bundle_to_hook_request(
    bundle: bytes,
    *,
    hook: Hook = Hook.PATIENT_VIEW,
    selections: list[str] | None = None,
    user: str = "Practitioner/example",
) -> dict[str, Any]:
    """A request for `hook`; for order hooks the Bundle's draft MedicationRequests are the draft orders."""
    doc = orjson.loads(bundle)
    entries = doc.get("entry", []) if doc.get("resourceType") == "Bundle" else [{"resource": doc}]
    patient: dict[str, Any] | None = None
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    drafts: list[dict[str, Any]] = []
    for entry in entries:
        resource = entry.get("resource") or {}
        rtype = resource.get("resourceType")
        if rtype == "Patient":
            patient = resource
        elif rtype == "MedicationRequest" and resource.get("status") == "draft":
            drafts.append(resource)
        elif rtype in _KEY_BY_TYPE:
            by_key[_KEY_BY_TYPE[rtype]].append(resource)
    if patient is None or not patient.get("id"):
        raise ValueError("the Bundle has no Patient with an id")
    context: dict[str, Any] = {"userId": user, "patientId": patient["id"]}
    if hook.is_order_hook:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": d} for d in drafts]}  # fmt: skip
        if hook is Hook.ORDER_SELECT:
            context["selections"] = selections or [f"MedicationRequest/{d['id']}" for d in drafts]
    prefetch: dict[str, Any] = {"patient": patient}
    prefetch.update({key: _searchset(by_key.get(key, [])) for key in _KEY_BY_TYPE.values()})
    return {
        "hook": hook.value,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch,
    }


def shift_dates(bundle: bytes, delta: timedelta) -> bytes:
    """The Bundle with every date moved by `delta` (a sample dated against T, evaluated now)."""
    return orjson.dumps(_shift(orjson.loads(bundle), delta))
