"""A1 `hypercalcemia-pth-missing`: high calcium with no PTH on file.

The biochemical diagnosis of primary hyperparathyroidism needs a PTH measured alongside the high
calcium (Fifth International Workshop 2022). This rule is the missing-data path for hypercalcaemia:
when no eligible PTH lies within ±30 days of the index calcium, it fires rather than stay silent.
An active PHPT Condition hands over to `phpt-surgical-criteria`.
"""

from __future__ import annotations

from rules import orderables
from rules.calcium_state import CaKind
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import MSD_HYPERCALCEMIA_2023, PHPT_WORKSHOP_2022
from rules.params import Parameters
from rules.parathyroid.common import paired_pth
from rules.presentation import calcium_display, calcium_evidence, make_finding
from rules.rule import Rule
from rules.windows import fmt_date

RULE_ID = "hypercalcemia-pth-missing"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    ca = facts.calcium
    if ca is None or not facts.ca_high or facts.has_condition("PHPT"):
        return None
    if paired_pth(facts, ca, params) is not None:
        return None
    value, unit = calcium_display(ca)
    summary = (
        f"Calcium {value} {unit} ({ca.kind.value}) on {fmt_date(ca.result.effective)} is high "
        "and no PTH is on file: order intact PTH."
    )
    suggestions = [orderables.PTH]
    if ca.kind is CaKind.UNCORRECTED:
        suggestions += [orderables.ALBUMIN, orderables.IONIZED_CA]
    suggestions += [orderables.VITD, orderables.CREATININE, orderables.PHOSPHATE]
    notes = ["Review thiazide, lithium, calcium and vitamin D supplements."]
    if ca.kind is CaKind.UNCORRECTED:
        notes.insert(0, "No albumin within 48 h: repeat calcium with albumin, or ionized calcium.")
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        summary,
        why=(
            f"Index calcium is above the upper reference limit ({ca.high} {ca.unit}) and no "
            f"eligible intact PTH lies within ±{params.pth_pair_hyper_days} days of it."
        ),
        evidence=calcium_evidence(ca),
        references=[PHPT_WORKSHOP_2022, MSD_HYPERCALCEMIA_2023],
        suggestions=suggestions,
        notes=notes,
    )


RULE = Rule(RULE_ID, "A1", evaluate)
