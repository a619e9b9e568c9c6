"""C2 `low-z-score`: a Z-score below the expected range for age in a younger adult.

In premenopausal women and men under 50, ISCD positions use Z-scores, not T-scores: a Z-score of
−2.0 or lower is "below the expected range for age" and calls for a search for secondary causes.
The rule looks at Z-scores at the lumbar spine, hip, femoral neck or 1/3 radius within 730 days,
measured when the patient was < 50 y and not postmenopausal (proxy of RULES.md 1.1). With an
unknown age the age test is false (1.1), so the rule stays silent. The T-scores of this population
are never used for osteoporosis status (3.6 (c), handled in `Facts`).
"""

from __future__ import annotations

from rules import orderables
from rules.bone_density.common import COELIAC_SEROLOGY, SITE_NAMES, SPEP, record_name
from rules.facts import DIAGNOSTIC_SITES, Facts
from rules.findings import Finding, Indicator, Suggestion
from rules.guidelines import ISCD
from rules.orderables import local_order
from rules.params import Parameters
from rules.presentation import dxa_evidence, make_finding
from rules.rule import Rule
from rules.snapshot import DxaScore
from rules.windows import fmt_date, fmt_num, within_days

RULE_ID = "low-z-score"

# Drug classes linked to bone loss that the card asks to review (C2 suggested actions).
REVIEW_CLASSES = ("GC", "AED", "PPI", "HEPARIN", "AI", "GNRH")


def in_z_score_population(facts: Facts, score: DxaScore, params: Parameters) -> bool:
    """Measured at a known age < 50 and not postmenopausal (proxy) at the time of the DXA."""
    age = facts.age_at(score.effective)
    if age is None or age >= params.age_postmenopausal:
        return False
    return not facts.postmenopausal_at(score.effective)


def low_z_scores(facts: Facts, params: Parameters) -> list[DxaScore]:
    return [
        d
        for d in facts.s.dxa_scores
        if d.kind == "Z"
        and d.site in DIAGNOSTIC_SITES
        and d.value <= params.z_low
        and within_days(d.effective, facts.at, params.z_window_days)
        and in_z_score_population(facts, d, params)
    ]


def _suggestions(facts: Facts) -> list[Suggestion]:
    if facts.is_male:
        hormones = local_order("Consider testosterone, LH and FSH")
    elif facts.is_female:
        hormones = local_order("Consider estradiol and a menstrual history")
    else:
        hormones = local_order("Consider sex-hormone evaluation")
    return [
        orderables.CALCIUM,
        orderables.ALBUMIN,
        orderables.PHOSPHATE,
        orderables.CREATININE,
        orderables.VITD,
        orderables.PTH,
        orderables.TSH,
        orderables.URINE_CA_24H,
        COELIAC_SEROLOGY,
        hormones,
        SPEP,
        local_order("Consider screening for Cushing's syndrome if suspected"),
    ]


def _medication_note(facts: Facts) -> str:
    current = sorted({record_name(m) for c in REVIEW_CLASSES for m in facts.current(c)})
    base = "Review medications linked to bone loss (glucocorticoids, anticonvulsants, PPIs, "
    base += "heparin, aromatase inhibitors, GnRH analogues)"
    return f"{base}; current: {', '.join(current)}." if current else f"{base}."


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    scores = low_z_scores(facts, params)
    if not scores:
        return None
    worst = min(scores, key=lambda d: (d.value, -d.effective.timestamp()))
    site = SITE_NAMES[worst.site]
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        f"BMD Z-score {fmt_num(worst.value)} at {site} is below the expected range for age: "
        "evaluate secondary causes.",
        why=(
            f"DXA Z-score {fmt_num(worst.value)} at the {site} on {fmt_date(worst.effective)} "
            f"is at or below {fmt_num(params.z_low)}, measured before age "
            f"{params.age_postmenopausal} and not postmenopausal: Z-scores apply, not T-scores."
        ),
        evidence=[dxa_evidence(d) for d in sorted(scores, key=lambda d: d.effective)],
        references=[ISCD],
        suggestions=_suggestions(facts),
        notes=[_medication_note(facts)],
    )


RULE = Rule(RULE_ID, "C2", evaluate)
