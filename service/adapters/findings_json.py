"""Findings as the JSON contract of `osteoalert evaluate --format json` (and the sweep's findings.ndjson)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rules import EvaluationResult, Evidence, Finding, Suggestion


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def evidence_to_dict(e: Evidence) -> dict[str, Any]:
    return {
        "reference": e.reference,
        "label": e.label,
        "value": e.value,
        "unit": e.unit,
        "normalised_value": e.normalised_value,
        "normalised_unit": e.normalised_unit,
        "effective": _iso(e.effective),
        **({"note": e.note} if e.note else {}),
    }


def suggestion_to_dict(s: Suggestion) -> dict[str, Any]:
    out: dict[str, Any] = {"label": s.label, "kind": s.kind}
    if s.code is not None:
        out["code"] = {"system": s.system, "code": s.code, "display": s.display}
    if s.resource is not None:
        out["resource"] = s.resource
    return out


def finding_to_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id,
        "indicator": f.indicator.value,
        "summary": f.summary,
        "detail": f.detail,
        "variant": f.variant,
        "evidence": [evidence_to_dict(e) for e in f.evidence],
        "suggestions": [suggestion_to_dict(s) for s in f.suggestions],
        "references": [{"label": r.label, "url": r.url} for r in f.references],
        **({"data": f.data} if f.data else {}),
    }


def result_to_dict(result: EvaluationResult) -> dict[str, Any]:
    return {
        "patient": result.patient,
        "at": _iso(result.at),
        "hook": result.hook,
        "findings": [finding_to_dict(f) for f in result.findings],
        "ignored": [{"reference": i.reference, "reason": i.reason} for i in result.ignored],
        "failures": [{"rule_id": f.rule_id, "error": f.error} for f in result.failures],
        "suppressed": list(result.suppressed),
    }
