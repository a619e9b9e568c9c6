"""A2 `hypercalcemia-severe`: a recent calcium in the severe range needs same-day assessment.

Conventional severity grading calls total (or corrected) calcium ≥ 14 mg/dL (3.5 mmol/L) severe;
the ionized equivalent used here is ≥ 1.75 mmol/L. Only an index calcium at most SEVERE_WINDOW
(7) days old raises the `critical` card: an older value says nothing about today. Uncorrected
values count (a missing albumin must not hide a calcium of 14). The rule needs no PTH; A1 adds
its own card when PTH is missing, and A4 when PTH is suppressed.
"""

from __future__ import annotations

from rules import orderables
from rules.calcium_state import CalciumReading
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import MSD_HYPERCALCEMIA_2023
from rules.params import Parameters
from rules.parathyroid.common import (
    HYPERCA_DRUG_CLASSES,
    calcium_caveats,
    culprit_name,
    index_calcium_text,
    lab_evidence_rows,
    paired_pth,
)
from rules.presentation import calcium_display, make_finding, unique_suggestions
from rules.rule import Rule
from rules.windows import fmt_date, fmt_num, within_days

RULE_ID = "hypercalcemia-severe"


def is_severe(ca: CalciumReading, params: Parameters) -> bool:
    # Rounded so that a value shown as 14.0 compares as 14.0 (float noise of unit conversion).
    if ca.is_ionized:
        return round(ca.value, 6) >= params.ca_severe_high_ionized
    return round(ca.value, 6) >= params.ca_severe_high


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    ca = facts.calcium
    if ca is None or not facts.ca_high:
        return None
    if not within_days(ca.result.effective, facts.at, params.severe_window_days):
        return None
    if not is_severe(ca, params):
        return None
    value, unit = calcium_display(ca)
    summary = (
        f"Severe hypercalcemia: calcium {value} {unit} on {fmt_date(ca.result.effective)}. Assess today."
    )
    pth = paired_pth(facts, ca, params)
    caveats, caveat_orders = calcium_caveats(facts, ca, params)
    suggestions = [] if pth is not None else [orderables.PTH]
    suggestions += [
        orderables.PTHRP,
        orderables.CALCITRIOL,
        orderables.SPEP_FLC,
        *caveat_orders,
    ]
    notes = [
        "Same-day clinical assessment; hydration per local protocol.",
        "Stop calcium, vitamin D, thiazide or lithium if present.",
        *_current_culprits(facts),
        *caveats,
    ]
    threshold = (
        f"{fmt_num(params.ca_severe_high_ionized)} mmol/L (ionized)"
        if ca.is_ionized
        else f"{fmt_num(params.ca_severe_high)} mg/dL"
    )
    return make_finding(
        RULE_ID,
        Indicator.CRITICAL,
        summary,
        why=(
            f"{index_calcium_text(ca)} is at or above the severe threshold {threshold} and is at "
            f"most {params.severe_window_days} days old."
        ),
        evidence=lab_evidence_rows(ca, pth),
        references=[MSD_HYPERCALCEMIA_2023],
        suggestions=unique_suggestions(suggestions),
        notes=notes,
        data={"kind": ca.kind.value},
    )


def _current_culprits(facts: Facts) -> list[str]:
    """Name the drugs that raise calcium and are current, so the clinician need not look them up."""
    names = [
        culprit_name(m, drug_class)
        for drug_class in (*HYPERCA_DRUG_CLASSES, "VITD_TX", "ACTIVE_VITD")
        for m in facts.current(drug_class)
    ]
    if not names:
        return []
    return ["Current on record: " + ", ".join(sorted(set(names))) + "."]


RULE = Rule(RULE_ID, "A2", evaluate)
