"""A7 `normocalcemic-phpt-possible`: raised PTH, normal calcium, every secondary cause excluded.

Normocalcaemic primary hyperparathyroidism is a diagnosis of exclusion (Fifth International Workshop
2022; Zavatta & Clarke 2021): PTH persistently above the reference range with normal albumin-adjusted
and ionized calcium, once vitamin D deficiency, reduced kidney function, malabsorption and
PTH-raising drugs have been excluded. The card therefore fires only when the latest PTH within
365 d is above the ULN, no calcium has been HIGH within 365 d (that is `phpt-suspected`), a calcium
measured within ±30 d of the PTH is not LOW, 25-OH D is ≥ 30 ng/mL, eGFR is ≥ 60, and there is no
malabsorption, PTH-raising drug or CKD G5D. Any missing item hands the patient to `secondary-hpt`
(see `rules.parathyroid.raised_pth`), never to this rule.
"""

from __future__ import annotations

from dataclasses import replace

from rules import orderables
from rules.calcium_state import CaKind
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import NPHPT_REVIEW_2021, PHPT_WORKSHOP_2022
from rules.params import Parameters
from rules.parathyroid.raised_pth import assess, evidence
from rules.presentation import make_finding
from rules.rule import Rule
from rules.windows import fmt_num

RULE_ID = "normocalcemic-phpt-possible"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    raised = assess(facts, params)
    if raised is None or not raised.nphpt_possible:
        return None
    pth, unit = raised.pth_display
    summary = (
        f"Raised PTH {pth} {unit} with normal calcium and no secondary cause found: "
        "possible normocalcemic PHPT."
    )
    ionized_measured = any(c.kind is CaKind.IONIZED for c in raised.calcium_near)
    suggestions = [] if ionized_measured else [orderables.IONIZED_CA]
    suggestions += [
        replace(orderables.CALCIUM, label="Repeat calcium with albumin in 3-6 months"),
        replace(orderables.ALBUMIN, label="Albumin with the repeat calcium"),
        replace(orderables.PTH, label="Repeat intact PTH in 3-6 months"),
        orderables.URINE_CA_24H,
        orderables.referral("Endocrinology referral"),
    ]
    notes = [
        "Normocalcaemic PHPT needs persistently raised PTH with normal albumin-adjusted and "
        "ionized calcium on repeat testing over 3-6 months.",
    ]
    if not ionized_measured:
        notes.append("No ionized calcium near the PTH: measure it before concluding.")
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        summary,
        why=(
            f"Latest intact PTH is above the upper reference limit ({fmt_num(raised.uln)} pg/mL); "
            f"calcium has not been high within {params.ca_any_high_days} days and is not low near "
            f"the PTH; 25-OH D ≥ {fmt_num(params.vitd_nphpt_min)} ng/mL, eGFR ≥ "
            f"{fmt_num(params.egfr_ckd)}, no malabsorption and no PTH-raising drug within "
            f"{params.drug_nphpt_days} days."
        ),
        evidence=evidence(raised),
        references=[PHPT_WORKSHOP_2022, NPHPT_REVIEW_2021],
        suggestions=suggestions,
        notes=notes,
    )


RULE = Rule(RULE_ID, "A7", evaluate)
