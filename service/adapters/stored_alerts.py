"""Alerts stored by background evaluation → `Finding`s again, so that they can be shown as cards.

The payload is `findings_json.finding_to_dict` of the finding; the index key, indicator, summary and
detail come from the alert's own columns. A payload that cannot be read (an older format, a bad
row) is skipped by the caller, never a failed hook call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules import Finding, Suggestion
from rules.findings import Indicator, Reference
from service.ports import StoredAlert


def _suggestion(data: Mapping[str, Any]) -> Suggestion:
    code = data.get("code") or {}
    return Suggestion(
        label=str(data["label"]),
        kind=str(data.get("kind", "order")),
        code=code.get("code"),
        system=code.get("system"),
        display=code.get("display"),
        resource=data.get("resource"),
    )


def stored_alert_to_finding(alert: StoredAlert) -> Finding:
    """The finding of a stored alert; KeyError/TypeError/ValueError when its payload is unreadable."""
    payload = alert.payload
    return Finding(
        rule_id=alert.rule_id,
        indicator=Indicator(alert.indicator),
        summary=alert.summary,
        detail=alert.detail,
        variant=payload.get("variant"),
        suggestions=tuple(_suggestion(s) for s in payload.get("suggestions", ())),
        references=tuple(Reference(str(r["label"]), str(r["url"])) for r in payload.get("references", ())),
        index_key=alert.index_key,
        data={str(k): str(v) for k, v in (payload.get("data") or {}).items()},
    )
