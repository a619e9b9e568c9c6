"""C3 `osteoporosis-untreated`: osteoporosis with no osteoporosis medication in the last year.

AACE/ACE 2020 diagnoses osteoporosis by a fragility fracture or a T-score ≤ −2.5 at the lumbar
spine, femoral neck, total hip or 1/3 radius, and recommends pharmacological treatment. Status is
that of RULES.md 3.6 (a Condition, a fragility fracture, or a qualifying T-score ever, which
persists when later scores improve). "On osteoporosis therapy" is OP_THERAPY exposure within 365
days or zoledronic acid within 1095 days (a yearly infusion keeps acting). The card points to the
secondary-cause work-up (C1) when that is still incomplete.
"""

from __future__ import annotations

from rules.bone_density.common import missing_workup, osteoporosis_evidence
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import AACE_2020
from rules.params import Parameters
from rules.presentation import make_finding, unique_suggestions
from rules.rule import Rule

RULE_ID = "osteoporosis-untreated"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    basis = facts.osteoporosis_basis
    if basis is None or facts.on_op_therapy:
        return None
    missing = missing_workup(facts, params)
    notes = ["Choose the drug according to renal function and fracture risk."]
    if missing:
        notes.append(
            "Complete the secondary-cause work-up first (low-bmd-secondary-workup): missing "
            + ", ".join(m.label for m in missing)
            + "."
        )
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        f"Osteoporosis ({basis}) with no osteoporosis medication in the last 12 months.",
        why=(
            f"Osteoporosis status ({basis}) and no osteoporosis therapy within "
            f"{params.op_therapy_days} days (zoledronic acid: {params.zoledronic_days} days)."
        ),
        evidence=osteoporosis_evidence(facts, params),
        references=[AACE_2020],
        suggestions=unique_suggestions(*(m.orders for m in missing)),
        notes=notes,
    )


RULE = Rule(RULE_ID, "C3", evaluate)
