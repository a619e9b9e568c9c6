"""A8 `secondary-hpt`: raised PTH with calcium not high and a secondary cause (or missing data).

A raised PTH with a calcium that is not high is most often secondary: vitamin D deficiency, reduced
kidney function (KDIGO 2017 CKD-MBD), hypocalcaemia, malabsorption, or drugs that raise PTH
(thiazides, lithium, loop diuretics, bisphosphonates, denosumab, enzyme-inducing anticonvulsants).
These are also the causes the Fifth International Workshop 2022 requires to be excluded before
normocalcaemic PHPT can be considered, so the card lists every cause found, and missing data
(calcium not measured near the PTH, no 25-OH D, no eGFR) counts as a cause: the patient lands here,
never on `normocalcemic-phpt-possible`.

In CKD G5D (or eGFR < 15) KDIGO targets a PTH of 2–9 × ULN, so only a PTH above 9 × ULN raises a
(`warning`) card, with cause `above-kdigo-target`; within target there is no card (10.1 #6).
"""

from __future__ import annotations

from dataclasses import replace

from rules import orderables
from rules.facts import Facts
from rules.findings import Finding, Indicator, Suggestion
from rules.guidelines import KDIGO_CKD_MBD_2017, PHPT_WORKSHOP_2022
from rules.params import Parameters
from rules.parathyroid.raised_pth import (
    ABOVE_KDIGO_TARGET,
    CALCIUM_NOT_MEASURED,
    CKD,
    DRUG,
    EGFR_MISSING,
    HYPOCALCEMIA,
    MALABSORPTION,
    VITD_LOW,
    VITD_MISSING,
    Cause,
    RaisedPth,
    assess,
    evidence,
)
from rules.presentation import bounded_summary, make_finding
from rules.rule import Rule
from rules.windows import fmt_num

RULE_ID = "secondary-hpt"

_NOTES = {
    VITD_LOW: "Vitamin D repletion per local protocol; recheck PTH, calcium and 25-OH D after ~3 months.",
    CKD: "CKD: evaluate modifiable factors per KDIGO 2017 (hyperphosphataemia, hypocalcaemia, "
    "high phosphate intake, vitamin D deficiency).",
    HYPOCALCEMIA: "Low calcium near the PTH: the raised PTH is an appropriate response; "
    "investigate the hypocalcaemia.",
    MALABSORPTION: "Malabsorption history: coeliac serology and gastroenterology review.",
    DRUG: "Review the PTH-raising medication(s) listed.",
    ABOVE_KDIGO_TARGET: "PTH above the KDIGO 2017 target of 2-9 x ULN for CKD G5D: review "
    "phosphate, calcium, vitamin D and PTH-lowering therapy with nephrology.",
}


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    raised = assess(facts, params)
    if raised is None or not raised.secondary:
        return None
    causes = _reported_causes(raised, params)
    pth, unit = raised.pth_display
    summary = bounded_summary(
        lambda shown: f"Raised PTH {pth} {unit} with non-high calcium; likely secondary: {shown}.",
        [c.label for c in causes],
    )
    ids = [c.id for c in causes]
    return make_finding(
        RULE_ID,
        Indicator.WARNING if raised.g5d else Indicator.INFO,
        summary,
        why=_why(raised, params),
        evidence=evidence(raised),
        references=[KDIGO_CKD_MBD_2017, PHPT_WORKSHOP_2022],
        suggestions=_suggestions(ids),
        notes=[_NOTES[i] for i in ids if i in _NOTES],
        data={"causes": ",".join(ids)},
    )


def _reported_causes(raised: RaisedPth, params: Parameters) -> list[Cause]:
    if not raised.g5d:
        return list(raised.causes)
    limit = fmt_num(params.pth_g5d_max_x_uln)
    label = f"{raised.g5d_label} with PTH above {limit}x ULN (KDIGO target)"
    return [Cause(ABOVE_KDIGO_TARGET, label)]


def _why(raised: RaisedPth, params: Parameters) -> str:
    base = (
        f"Latest intact PTH within {params.pth_window_days} days is above the upper reference "
        f"limit ({fmt_num(raised.uln)} pg/mL) and calcium has not been high within "
        f"{params.ca_any_high_days} days."
    )
    if raised.g5d:
        return base + (
            f" In CKD G5D / eGFR < {fmt_num(params.egfr_g5)} the KDIGO target is 2-"
            f"{fmt_num(params.pth_g5d_max_x_uln)} x ULN, and this PTH is above it."
        )
    return base + (" Secondary causes (or missing data) were found, so normocalcaemic PHPT is not suggested.")


def _suggestions(ids: list[str]) -> list[Suggestion]:
    out: list[Suggestion] = []
    if CALCIUM_NOT_MEASURED in ids:
        out += [orderables.CALCIUM, orderables.ALBUMIN]
    if VITD_MISSING in ids:
        out.append(orderables.VITD)
    if VITD_LOW in ids:
        out.append(replace(orderables.VITD, label="Recheck 25-OH vitamin D after ~3 months"))
    if EGFR_MISSING in ids:
        out.append(orderables.CREATININE)
    if CKD in ids or ABOVE_KDIGO_TARGET in ids:
        out.append(orderables.PHOSPHATE)
    if MALABSORPTION in ids:
        out.append(orderables.referral("Gastroenterology review (coeliac serology)"))
    if ABOVE_KDIGO_TARGET in ids:
        out.append(orderables.referral("Nephrology review (CKD-MBD)"))
    return out


RULE = Rule(RULE_ID, "A8", evaluate)
