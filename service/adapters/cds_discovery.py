"""The CDS Hooks discovery document (`GET /cds-services`): three services and their prefetch.

Prefetch templates stay inside the query subset the specification recommends (instance reads,
type searches by patient reference, token parameters by equality): no `_sort`, no date prefixes,
no chaining. Look-back windows (3 years of labs, 5 of DXA, RULES.md 8) are applied by us after the
data arrive, so every EHR can satisfy the templates as written. The Observation template lists
every lab and DXA code of the code sets, site-added local codes included, as `system|code` tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rules import Hook
from rules.codesets import CodeSets
from service.adapters.codesets import load_codesets

SERVICE_IDS: dict[str, Hook] = {
    "osteoalert-patient-view": Hook.PATIENT_VIEW,
    "osteoalert-order-select": Hook.ORDER_SELECT,
    "osteoalert-order-sign": Hook.ORDER_SIGN,
}

PATIENT = "{{context.patientId}}"

_TITLES: dict[Hook, str] = {
    Hook.PATIENT_VIEW: "Bone & Parathyroid CDS: chart review",
    Hook.ORDER_SELECT: "Bone & Parathyroid CDS: order selection",
    Hook.ORDER_SIGN: "Bone & Parathyroid CDS: order signing",
}

_DESCRIPTIONS: dict[Hook, str] = {
    Hook.PATIENT_VIEW: (
        "When a chart is opened: calcium, PTH, magnesium and vitamin D disorders, secondary causes "
        "of low bone density, untreated osteoporosis, DXA screening and monitoring gaps, and CKD-MBD "
        "monitoring, from the patient's labs, DXA results, medications and conditions."
    ),
    Hook.ORDER_SELECT: (
        "When a bisphosphonate, denosumab, glucocorticoid, aromatase inhibitor or GnRH/ADT order is "
        "selected: hypocalcaemia and renal safety checks before an antiresorptive, bone assessment "
        "for bone-toxic drugs, and the secondary-cause work-up before osteoporosis treatment."
    ),
    Hook.ORDER_SIGN: (
        "When orders are signed: the same checks as order selection, for every draft order "
        "(hypocalcaemia and renal safety of antiresorptives, bone assessment for glucocorticoids, "
        "aromatase inhibitors and GnRH/ADT, secondary-cause work-up before osteoporosis treatment)."
    ),
}

_USAGE = (
    "Needs its prefetch, or fhirServer with a fhirAuthorization token that can read Patient, "
    "Observation, Condition, MedicationRequest, MedicationStatement, MedicationAdministration, "
    "Procedure and DiagnosticReport for the patient. Look-back windows are applied by the service."
)

_DXA_REPORT_FALLBACK = ("http://loinc.org", "83311-1")


def _system_uri(codesets: CodeSets, alias: str) -> str:
    """The URI for a system alias: its first http(s) URI, else any URI, else the alias itself."""
    uris = [uri for uri, a in codesets.systems.items() if a == alias]
    web = [uri for uri in uris if uri.startswith(("http://", "https://"))]
    return (web or uris or [alias])[0]


def _escape(value: str) -> str:
    """FHIR search escaping of the characters that separate values (`\\`, `,`, `$`, `|`)."""
    for char in "\\,$|":
        value = value.replace(char, f"\\{char}")
    return value


def _tokens(codesets: CodeSets, keys: Iterable[tuple[str, str]]) -> list[str]:
    """`system|code` search tokens, deduplicated, in code-set order."""
    out = [f"{_escape(_system_uri(codesets, alias))}|{_escape(code)}" for alias, code in keys]
    return list(dict.fromkeys(out))


def observation_tokens(codesets: CodeSets) -> list[str]:
    """Every lab (analyte) code and every DXA T-score, Z-score and BMD code the rules read."""
    return _tokens(codesets, [*codesets.labs, *codesets.dxa])


def dxa_report_tokens(codesets: CodeSets) -> list[str]:
    tokens = _tokens(codesets, sorted(codesets.dxa_reports))
    return tokens or ["|".join(_DXA_REPORT_FALLBACK)]


def prefetch_templates(codesets: CodeSets) -> dict[str, str]:
    """The prefetch keys every service declares (the keys EHRs and reviewers rely on come first)."""
    by_patient = f"patient={PATIENT}"
    return {
        "patient": f"Patient/{PATIENT}",
        "observations": f"Observation?{by_patient}&code={','.join(observation_tokens(codesets))}",
        "conditions": f"Condition?{by_patient}",
        "medications": f"MedicationRequest?{by_patient}",
        "medicationStatements": f"MedicationStatement?{by_patient}",
        "medicationAdministrations": f"MedicationAdministration?{by_patient}",
        "procedures": f"Procedure?{by_patient}",
        "diagnosticReports": f"DiagnosticReport?{by_patient}&code={','.join(dxa_report_tokens(codesets))}",
    }


def discovery_document(codesets: CodeSets | None = None) -> dict[str, Any]:
    """`{"services": [...]}` for `GET /cds-services` (code sets: the bundled ones by default)."""
    if codesets is None:
        codesets = load_codesets()
    prefetch = prefetch_templates(codesets)
    return {
        "services": [
            {
                "hook": hook.value,
                "title": _TITLES[hook],
                "description": _DESCRIPTIONS[hook],
                "id": service_id,
                "prefetch": dict(prefetch),
                "usageRequirements": _USAGE,
            }
            for service_id, hook in SERVICE_IDS.items()
        ]
    }
