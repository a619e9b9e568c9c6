"""C10 `tsh-suppressed-bone-risk`: TSH below 0.1 mIU/L in a patient at bone risk.

Persistently suppressed TSH (overt or subclinical hyperthyroidism, or levothyroxine over-replacement)
accelerates bone loss. ATA 2016 recommendation 83 advises treating a TSH persistently < 0.1 mIU/L in
patients ≥ 65 y, with osteoporosis, or postmenopausal women not on estrogens or bisphosphonates.
The TSH threshold is a guideline value, never the lab range (3.4 item 6). Thyroid cancer is
excluded: TSH suppression there is often intended.
"""

from __future__ import annotations

from rules import orderables
from rules.bone_density.dxa_due import describe_days, latest_dxa_evidence
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator, Suggestion
from rules.guidelines import ATA_2016
from rules.params import Parameters
from rules.presentation import lab_evidence, make_finding
from rules.rule import Rule
from rules.snapshot import Analyte, LabResult
from rules.windows import fmt_date, fmt_num

RULE_ID = "tsh-suppressed-bone-risk"
_SHOWN_MIN = 0.01  # the smallest value two decimals can show (RULES.md 1.5)


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if facts.has_condition("THYROID_CANCER"):
        return None
    tsh = facts.latest(Analyte.TSH, within=params.tsh_window_days)
    if tsh is None or not tsh.value < params.tsh_suppressed:
        return None
    basis = bone_risk(facts, params)
    if basis is None:
        return None
    threshold = fmt_num(params.tsh_suppressed)
    summary = (
        f"TSH {tsh_display(tsh, params)} mIU/L (<{threshold}) in a patient at bone risk: "
        "confirm and review thyroid treatment."
    )
    evidence: list[Evidence] = [lab_evidence(tsh)]
    dxa = latest_dxa_evidence(facts)
    if dxa is not None:
        evidence.append(dxa)
    on_thyroxine = bool(facts.current("THYROID_HORMONE"))
    notes = [
        "Repeat TSH with free T4 and T3 to confirm that suppression persists.",
        "On levothyroxine: review the dose."
        if on_thyroxine
        else "Not on thyroid hormone: evaluate the cause of endogenous hyperthyroidism.",
    ]
    suggestions: list[Suggestion] = [orderables.TSH]
    if not facts.has_recent_dxa():
        suggestions.append(orderables.DXA)
        notes.append(f"No DXA in {describe_days(params.dxa_recent_days)}: consider bone density testing.")
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        summary,
        why=(
            f"Latest TSH within {params.tsh_window_days} days is {fmt_num(tsh.value)} mIU/L "
            f"on {fmt_date(tsh.effective)} (below {threshold}); bone risk: {basis}."
        ),
        evidence=evidence,
        references=[ATA_2016],
        suggestions=suggestions,
        notes=notes,
        data={"bone_risk": basis},
    )


def bone_risk(facts: Facts, params: Parameters) -> str | None:
    """Which ATA 2016 rec. 83 risk applies: age ≥ 65, osteoporosis, or a woman ≥ 50 without a
    bisphosphonate in the last year; None when none does (an unknown age never qualifies)."""
    if facts.age_at_least(params.age_tsh_risk):
        return f"age {facts.age}"
    if facts.osteoporosis:
        return f"osteoporosis ({facts.osteoporosis_basis})"
    if (
        facts.is_female
        and facts.age_at_least(params.age_postmenopausal)
        # "no BP exposure within 365 d": the same one-year window as "on osteoporosis therapy" (3.6)
        and not facts.exposures("BP", params.op_therapy_days)
    ):
        return f"woman aged {facts.age} not on a bisphosphonate"
    return None


def tsh_display(tsh: LabResult, params: Parameters) -> str:
    """The TSH for the summary at ≤ 2 decimals, never rounded up to (or down to zero from) a value
    that would contradict the comparison: 0.099 shows as "<0.1", 0.004 as "<0.01"."""
    value = tsh.value
    if value < _SHOWN_MIN:
        return f"<{fmt_num(_SHOWN_MIN)}"
    shown = fmt_num(value)
    if float(shown) >= params.tsh_suppressed:
        return f"<{fmt_num(params.tsh_suppressed)}"
    return shown


RULE = Rule(RULE_ID, "C10", evaluate)
