"""Findings as CDS Hooks 2.0 cards (RULES.md 1.5 and 8).

One card per finding: the rule's summary and indicator, `source.topic` coding the rule id (the
contract reviewers and the feedback store rely on), the markdown detail, suggestions that create
draft ServiceRequests (LOINC-coded tests, DXA, local referrals) or delete the draft order at fault,
override reasons, and absolute links to the guidelines. Card and suggestion uuids are uuid5 of the
patient, the rule id and the finding's index data, so the same finding keeps its uuid across calls
and feedback stays attributable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rules import EvaluationResult, Finding, Hook, MedicationExposure, Suggestion, orderables
from rules.presentation import SUMMARY_LIMIT
from service.adapters.fhir_resources_out import (
    LOINC,
    OrderCategory,
    is_resource_type,
    patient_reference,
    service_request,
)

RULE_CODE_SYSTEM = "https://osteoalert.org/fhir/CodeSystem/rule-id"
OVERRIDE_REASON_SYSTEM = "https://osteoalert.org/fhir/CodeSystem/override-reason"
PROJECT_URL = "https://osteoalert.org"
SOURCE_LABEL = "Bone & Parathyroid CDS"

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, RULE_CODE_SYSTEM)

# Human titles for source.topic.display (the code is the rule id, RULES.md section 5).
RULE_TITLES: dict[str, str] = {
    "hypercalcemia-pth-missing": "High calcium without PTH",
    "hypercalcemia-severe": "Severe hypercalcemia",
    "phpt-suspected": "Primary hyperparathyroidism suspected",
    "pth-independent-hypercalcemia": "PTH-independent hypercalcemia",
    "drug-associated-hypercalcemia": "Drug-associated hypercalcemia",
    "phpt-surgical-criteria": "Primary hyperparathyroidism: surgical criteria",
    "normocalcemic-phpt-possible": "Normocalcemic primary hyperparathyroidism possible",
    "secondary-hpt": "Secondary hyperparathyroidism",
    "hypocalcemia": "Hypocalcemia",
    "hypopara-suspected": "Hypoparathyroidism suspected",
    "hypomagnesemia": "Hypomagnesemia",
    "vitd-deficiency": "Vitamin D deficiency",
    "vitd-excess": "Vitamin D excess",
    "low-bmd-secondary-workup": "Low bone density: secondary-cause work-up",
    "low-z-score": "Low Z-score",
    "osteoporosis-untreated": "Osteoporosis not treated",
    "gio-bone-assessment-due": "Glucocorticoid-induced osteoporosis: bone assessment due",
    "ai-adt-bone-assessment-due": "Aromatase inhibitor or ADT: bone assessment due",
    "antiresorptive-hypocalcemia-risk": "Antiresorptive order: hypocalcemia risk",
    "dxa-monitoring-due": "Osteoporosis therapy: DXA monitoring due",
    "osteoporosis-screening-due": "Osteoporosis screening due",
    "bone-risk-condition-dxa-due": "Condition linked to bone loss: DXA due",
    "tsh-suppressed-bone-risk": "Suppressed TSH with bone risk",
    "ckd-mbd-monitoring-due": "CKD-MBD monitoring due",
}

OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-addressed", "Already addressed"),
    ("not-applicable", "Not applicable to this patient"),
    ("patient-declined", "Patient declined"),
    ("will-recheck", "Will recheck later"),
)

# The orderables the rules suggest (rules.orderables): calcium and albumin are grouped into one
# suggestion (RULES.md 3.2); the DXA panel is imaging.
_CALCIUM_CODES = frozenset({orderables.CALCIUM.code})
_ALBUMIN_CODES = frozenset({orderables.ALBUMIN.code})
_DXA_CODES = frozenset({orderables.DXA.code})
_RELATIVE_REFERENCE = re.compile(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_LINK_LABEL_LIMIT = 80


def rule_title(rule_id: str) -> str:
    return RULE_TITLES.get(rule_id, rule_id)


def rule_coding(rule_id: str) -> dict[str, str]:
    """The rule as a Coding (card `source.topic`; DetectedIssue.code later)."""
    return {"system": RULE_CODE_SYSTEM, "code": rule_id, "display": rule_title(rule_id)}


def card_uuid(patient: str, rule_id: str, index_key: str) -> str:
    """uuid5, stable per (patient, rule id, index data); `Patient/x` and `x` give the same uuid."""
    name = f"{patient_reference(patient)}|{rule_id}|{index_key}"
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class _Group:
    """The suggestions that become one CDS suggestion (a calcium order carries its albumin)."""

    items: tuple[Suggestion, ...]

    @property
    def head(self) -> Suggestion:
        return self.items[0]

    @property
    def key(self) -> str:
        return ",".join(f"{s.kind}:{s.code or ''}:{s.resource or ''}:{s.label}" for s in self.items)

    @property
    def label(self) -> str:
        head = self.head
        if len(self.items) > 1 and "albumin" not in head.label.lower():
            return f"{head.label} with albumin"
        return head.label


def group_suggestions(suggestions: Iterable[Suggestion]) -> list[_Group]:
    """One group per orderable, except that an albumin joins the calcium order it accompanies.

    Albumin only makes sense next to the total calcium it corrects (RULES.md 3.2), so when a finding
    suggests both, they are one button. An albumin on its own (to correct a calcium already on
    file) stays its own suggestion. Repeated orderables are dropped.
    """
    items = list(dict.fromkeys(suggestions))  # drops exact repeats, keeps order
    calcium = next((s for s in items if s.kind == "order" and s.code in _CALCIUM_CODES), None)
    albumin = next((s for s in items if s.kind == "order" and s.code in _ALBUMIN_CODES), None)
    groups: list[_Group] = []
    for s in items:
        if calcium is not None and s is albumin:
            continue
        if s is calcium and albumin is not None:
            groups.append(_Group((calcium, albumin)))
        else:
            groups.append(_Group((s,)))
    return groups


def _category(s: Suggestion) -> OrderCategory | None:
    if s.kind == "referral":
        return OrderCategory.REFERRAL
    if s.code is None:
        return None  # a local orderable: the site decides its category
    return OrderCategory.IMAGING if s.code in _DXA_CODES else OrderCategory.LAB


def _create_action(s: Suggestion, *, patient: str, rule_id: str, intent: str) -> dict[str, Any]:
    resource = service_request(
        patient=patient,
        text=s.display or s.label,
        code=s.code,
        system=s.system or (LOINC if s.code else None),
        display=s.display,
        category=_category(s),
        intent=intent,
        reason=(RULE_CODE_SYSTEM, rule_id, rule_title(rule_id)),
    )
    return {"type": "create", "description": s.label, "resource": resource}


def _delete_action(s: Suggestion, drafts: dict[str, MedicationExposure]) -> dict[str, Any] | None:
    """Delete the draft order by relative reference; None when the reference is not `Type/id`."""
    ref = s.resource or ""
    match = _RELATIVE_REFERENCE.fullmatch(ref)
    if match is None or not is_resource_type(match.group(1)):
        return None
    draft = drafts.get(ref)
    what = f"the draft order for {draft.display}" if draft is not None and draft.display else ref
    return {"type": "delete", "description": f"Remove {what}", "resourceId": ref}


def _suggestion(
    group: _Group,
    *,
    card: str,
    patient: str,
    rule_id: str,
    intent: str,
    drafts: dict[str, MedicationExposure],
) -> dict[str, Any] | None:
    actions: list[dict[str, Any]] = []
    for s in group.items:
        if s.kind == "cancel-draft":
            action = _delete_action(s, drafts)
            if action is not None:
                actions.append(action)
        else:
            actions.append(_create_action(s, patient=patient, rule_id=rule_id, intent=intent))
    if not actions:
        return None
    return {
        "label": group.label,
        "uuid": str(uuid.uuid5(_NAMESPACE, f"{card}|{group.key}")),
        "actions": actions,
    }


def _link_label(label: str) -> str:
    """The guideline's short name: the text before the citation, at most ~80 characters."""
    short = label.split(" (", 1)[0].strip() or label
    if len(short) <= _LINK_LABEL_LIMIT:
        return short
    cut = short[: _LINK_LABEL_LIMIT - 1].rsplit(" ", 1)[0]
    return f"{cut}…"


def _bounded(summary: str) -> str:
    """Rules keep summaries < 140 characters; this guard keeps a card valid if one ever does not."""
    if len(summary) < SUMMARY_LIMIT:
        return summary
    return summary[: SUMMARY_LIMIT - 2].rstrip() + "…"


def finding_to_card(
    finding: Finding,
    *,
    patient: str,
    draft_orders: Sequence[MedicationExposure] = (),
    hook: Hook | str = Hook.PATIENT_VIEW,
) -> dict[str, Any]:
    """One CDS Hooks card for one finding.

    `patient` is `context.patientId` or `Patient/<id>` (a valid FHIR id, else `ValueError`).
    At order-select/order-sign the created ServiceRequests join the order basket (intent `order`);
    at chart opening they are proposals (intent `proposal`). Both are `draft`.
    """
    uid = card_uuid(patient, finding.rule_id, finding.index_key)
    intent = "order" if Hook(hook).is_order_hook else "proposal"
    drafts = {d.reference: d for d in draft_orders}
    card: dict[str, Any] = {
        "uuid": uid,
        "summary": _bounded(finding.summary),
        "indicator": finding.indicator.value,
    }
    if finding.detail:
        card["detail"] = finding.detail
    card["source"] = {"label": SOURCE_LABEL, "url": PROJECT_URL, "topic": rule_coding(finding.rule_id)}
    suggestions = [
        s
        for g in group_suggestions(finding.suggestions)
        if (
            s := _suggestion(
                g, card=uid, patient=patient, rule_id=finding.rule_id, intent=intent, drafts=drafts
            )
        )
        is not None
    ]
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"
    card["overrideReasons"] = [
        {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS
    ]
    links = {
        r.url: {"label": _link_label(r.label), "url": r.url, "type": "absolute"} for r in finding.references
    }
    if links:
        card["links"] = list(links.values())
    return card


def findings_to_cards(
    findings: Iterable[Finding],
    *,
    patient: str,
    hook: Hook | str = Hook.PATIENT_VIEW,
    draft_orders: Sequence[MedicationExposure] = (),
) -> dict[str, Any]:
    """`{"cards": [...]}` ordered critical → warning → info; one card per rule (first one wins)."""
    by_rule: dict[str, Finding] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, f)
    ordered = sorted(by_rule.values(), key=lambda f: -f.indicator.rank)  # stable: engine order kept
    return {
        "cards": [finding_to_card(f, patient=patient, draft_orders=draft_orders, hook=hook) for f in ordered]
    }


def result_to_cards(
    result: EvaluationResult,
    *,
    draft_orders: Sequence[MedicationExposure] = (),
    stored: Iterable[Finding] = (),
) -> dict[str, Any]:
    """The CDS Hooks response body for one evaluation.

    `stored` are findings kept from earlier background evaluation of this patient; a rule that fired
    now wins over its stored finding. Rule failures are not cards (they are logged by the caller).
    """
    return findings_to_cards(
        [*result.findings, *stored], patient=result.patient, hook=result.hook, draft_orders=draft_orders
    )
