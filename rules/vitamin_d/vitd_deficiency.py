"""B1 `vitd-deficiency`: the latest 25-OH vitamin D is low.

IOM 2011 cut-offs (the Endocrine Society 2024 guideline endorses no sufficiency threshold and advises
against routine testing of healthy adults, so this card never suggests screening): < 12 ng/mL
(30 nmol/L) `warning`; 12 to < 20 ng/mL (50 nmol/L) `info`; 20 to < 30 ng/mL (75 nmol/L) `info`
only with bone context (osteoporosis/osteopenia, PHPT, hypoparathyroidism, CKD G3a+, malabsorption,
osteoporosis therapy: the bone-disease target of AACE 2020 / KDIGO 2017 practice).

The value is the latest draw's (`rules.vitamin_d.latest_draw`). No card when repletion has already
begun (a vitamin D order/statement started after the result), nor when only D3 was measured while
ergocalciferol (D2) is current: D3 alone under-reads such a patient, and a total 25-OH D is needed.
"""

from __future__ import annotations

from dataclasses import replace

from rules import orderables
from rules.facts import Facts
from rules.findings import Finding, Indicator, Reference, Suggestion
from rules.guidelines import AACE_2020, ES_VITD_2024, KDIGO_CKD_MBD_2017
from rules.params import Parameters
from rules.presentation import lab_evidence, make_finding
from rules.rule import Rule
from rules.vitamin_d.latest_draw import VitdReading, latest_vitd
from rules.windows import fmt_date, fmt_num

RULE_ID = "vitd-deficiency"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    vitd = latest_vitd(facts, params)
    if vitd is None:
        return None
    graded = _grade(vitd.value, params, bone_context=facts.bone_context)
    if graded is None or _repletion_begun(facts, vitd) or _d2_unmeasured_on_d2(facts, vitd):
        return None
    indicator, threshold, bone_target = graded
    value, unit = vitd.display()
    context = " (bone-disease target)" if bone_target else ""
    summary = (
        f"25-OH vitamin D {value} {unit} on {fmt_date(vitd.effective)} is below "
        f"{fmt_num(threshold)} ng/mL{context}."
    )
    notes = ["Vitamin D repletion per local protocol."]
    suggestions: list[Suggestion] = []
    references: list[Reference] = [ES_VITD_2024]
    if facts.bone_context:
        notes.append("Bone-disease context: re-check 25-OH D after ~3 months of repletion.")
        suggestions.append(replace(orderables.VITD, label="Re-check 25-OH vitamin D in ~3 months"))
        references += [AACE_2020, KDIGO_CKD_MBD_2017]
    return make_finding(
        RULE_ID,
        indicator,
        summary,
        why=(
            f"Latest 25-OH vitamin D within {params.vitd_window_days} days "
            f"({vitd.kind.value}, {fmt_num(vitd.value)} ng/mL) is below {fmt_num(threshold)} "
            f"ng/mL{context}."
        ),
        evidence=[lab_evidence(r, note=vitd.kind.value) for r in vitd.results],
        references=references,
        suggestions=suggestions,
        notes=notes,
    )


def _grade(value: float, params: Parameters, *, bone_context: bool) -> tuple[Indicator, float, bool] | None:
    """(indicator, threshold crossed, bone-disease target applies) or None when not low."""
    if value < params.vitd_severe:
        return Indicator.WARNING, params.vitd_severe, False
    if value < params.vitd_deficient:
        return Indicator.INFO, params.vitd_deficient, False
    if value < params.vitd_bone_target and bone_context:
        return Indicator.INFO, params.vitd_bone_target, True
    return None


def _repletion_begun(facts: Facts, vitd: VitdReading) -> bool:
    """A native vitamin D order/statement/administration started after the result (B1 exclusion)."""
    return any(
        m.start is not None and vitd.effective < m.start <= facts.at for m in facts.medications("VITD_TX")
    )


def _d2_unmeasured_on_d2(facts: Facts, vitd: VitdReading) -> bool:
    """D3-only result while ergocalciferol is current: D3 does not measure the D2 taken."""
    return vitd.d2_not_measured and any("ergocalciferol" in m.ingredients for m in facts.current("VITD_TX"))


RULE = Rule(RULE_ID, "B1", evaluate)
