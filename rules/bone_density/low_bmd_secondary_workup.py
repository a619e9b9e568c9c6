"""C1 `low-bmd-secondary-workup`: osteoporosis with the secondary-cause labs missing.

AACE/ACE 2020 asks that every patient with osteoporosis be evaluated for secondary causes before
(or with) treatment. The core items are an interpretable calcium (ionized, lab-corrected, or total
with a pairable albumin), phosphate, creatinine or eGFR and 25-OH D within 365 days; PTH joins them
when any calcium within 365 days was high, TSH when levothyroxine is current or hyperthyroidism is
active. Osteoporosis status is that of RULES.md 3.6: a T-score only counts when measured at ≥ 50 y
or postmenopausal, so patients of the Z-score population reach this rule only through an
osteoporosis Condition or a fragility fracture. On order hooks the rule is triggered by an
osteoporosis-therapy draft order; on patient-view and batch by the status alone.
"""

from __future__ import annotations

from rules.bone_density.common import (
    OPTIONAL_WORKUP,
    TESTOSTERONE,
    known_ingredient_name,
    missing_workup,
    osteoporosis_evidence,
    therapy_evidence,
    workup_evidence,
)
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import AACE_2020
from rules.params import Parameters
from rules.presentation import bounded_summary, make_finding, unique_suggestions
from rules.rule import Rule

RULE_ID = "low-bmd-secondary-workup"


def _summary(missing: str) -> str:
    return f"Osteoporosis: secondary-cause labs missing ({missing}). Order before or with treatment."


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    drafts = facts.drafts_of("OP_THERAPY") if facts.hook.is_order_hook else []
    if facts.hook.is_order_hook and not drafts:
        return None
    if not facts.osteoporosis:
        return None
    missing = missing_workup(facts, params)
    if not missing:
        return None
    optional = [*OPTIONAL_WORKUP, TESTOSTERONE] if facts.is_male else list(OPTIONAL_WORKUP)
    notes = [f"{m.label} is required because {m.reason}." for m in missing if m.reason]
    notes += [f"Triggered by the draft order of {known_ingredient_name(d)}." for d in drafts]
    notes.append(
        "Also worth considering (never required): 24-h urine calcium/creatinine, CBC, liver "
        "panel/alkaline phosphatase, serum protein electrophoresis, coeliac serology"
        + (", testosterone." if facts.is_male else ".")
    )
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        bounded_summary(_summary, [m.label for m in missing]),
        why=(
            f"Osteoporosis status ({facts.osteoporosis_basis}) and no eligible result within "
            f"{params.workup_window_days} days for: {', '.join(m.label for m in missing)}."
        ),
        evidence=[
            *osteoporosis_evidence(facts, params),
            *workup_evidence(facts, params),
            *(therapy_evidence(d) for d in drafts),
        ],
        references=[AACE_2020],
        suggestions=unique_suggestions(*(m.orders for m in missing), optional),
        notes=notes,
        data={"missing": ",".join(m.label for m in missing)},
    )


RULE = Rule(RULE_ID, "C1", evaluate)
