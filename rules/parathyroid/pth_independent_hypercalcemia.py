"""A4 `pth-independent-hypercalcemia`: high calcium with a suppressed PTH.

When calcium is high and the PTH closest to it (±PTH_PAIR_HYPER days) is below PTH_NONSUPPRESSED
(20 pg/mL), the parathyroids are responding appropriately and the cause lies elsewhere:
malignancy (PTHrP, myeloma), vitamin D excess or granulomatous disease (1,25(OH)₂D), or intake
of calcium, vitamin D or vitamin A (MSD Manual 2023). No exclusion: thiazides and lithium do not
explain a suppressed PTH, so A5 may fire alongside, and A2 adds the critical card when severe.
"""

from __future__ import annotations

from rules import orderables
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import MSD_HYPERCALCEMIA_2023
from rules.params import Parameters
from rules.parathyroid.common import (
    calcium_caveats,
    high_calcium_with_paired_pth_text,
    lab_evidence_rows,
    paired_pth,
)
from rules.presentation import calcium_display, lab_display, make_finding, unique_suggestions
from rules.rule import Rule
from rules.vitamin_d.latest_draw import latest_vitd
from rules.windows import fmt_num

RULE_ID = "pth-independent-hypercalcemia"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    ca = facts.calcium
    if ca is None or not facts.ca_high:
        return None
    pth = paired_pth(facts, ca, params)
    if pth is None or pth.value >= params.pth_nonsuppressed:
        return None
    ca_value, ca_unit = calcium_display(ca)
    pth_value, pth_unit = lab_display(pth)
    summary = (
        f"Calcium {ca_value} {ca_unit} with suppressed PTH {pth_value} {pth_unit}: "
        "evaluate PTH-independent causes."
    )
    caveats, caveat_orders = calcium_caveats(facts, ca, params)
    vitd = latest_vitd(facts, params)
    suggestions = [
        orderables.PTHRP,
        orderables.CALCITRIOL,
        *([orderables.VITD] if vitd is None else []),
        orderables.SPEP_FLC,
        *caveat_orders,
    ]
    notes = [
        "Review vitamin D, calcium and vitamin A intake (including over-the-counter products).",
        "Evaluate for malignancy and granulomatous disease.",
        *caveats,
    ]
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        summary,
        why=high_calcium_with_paired_pth_text(
            ca, pth, params, f"below {fmt_num(params.pth_nonsuppressed)} pg/mL (suppressed)"
        ),
        evidence=lab_evidence_rows(ca, pth, *(vitd.results if vitd is not None else ())),
        references=[MSD_HYPERCALCEMIA_2023],
        suggestions=unique_suggestions(suggestions),
        notes=notes,
    )


RULE = Rule(RULE_ID, "A4", evaluate)
