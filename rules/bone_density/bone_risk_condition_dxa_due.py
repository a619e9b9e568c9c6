"""C9 `bone-risk-condition-dxa-due`: a disease linked to bone loss and no DXA in the last 2 years.

ISCD indicates BMD testing in adults with a disease associated with low bone mass; AACE 2020 lists
these secondary causes, and KDIGO 2017 suggests BMD testing in CKD G3a–G5D when it would change
management. Cushing's syndrome, hypogonadism, anorexia nervosa and gastric/bariatric surgery count
from age 18; hyperthyroidism, type 1 diabetes, coeliac disease, IBD, rheumatoid arthritis,
ankylosing spondylitis, myeloma and CKD G3a or worse count from age 50 (service defaults, RULES.md
10 #2). An active PHPT Condition hands DXA over to `phpt-surgical-criteria` (10.1 #10), and the
engine suppresses this generic reminder when a drug-specific DXA card fires (1.5).
"""

from __future__ import annotations

from datetime import datetime

from rules import orderables
from rules.bone_density.dxa_due import describe_days, latest_dxa_evidence
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator
from rules.guidelines import AACE_2020, ISCD, KDIGO_CKD_MBD_2017
from rules.params import Parameters
from rules.presentation import bounded_summary, capitalised, ckd_evidence, condition_evidence, make_finding
from rules.rule import Rule
from rules.windows import fmt_date

RULE_ID = "bone-risk-condition-dxa-due"

# Qualifying from the adult gate (18 y): active Conditions, and GI surgery as history.
ADULT_CONDITIONS = {
    "CUSHING": "Cushing syndrome",
    "HYPOGONADISM": "hypogonadism",
    "ANOREXIA": "anorexia nervosa",
}
ADULT_HISTORY = {"GI_SURGERY": "gastric or bariatric surgery"}
# Qualifying from `age_condition_floor` (50 y): active Conditions, and CKD G3a or worse (3.6).
OLDER_CONDITIONS = {
    "HYPERTHYROID": "hyperthyroidism",
    "T1DM": "type 1 diabetes",
    "CELIAC": "celiac disease",
    "IBD": "inflammatory bowel disease",
    "RA": "rheumatoid arthritis",
    "AS": "ankylosing spondylitis",
    "MYELOMA": "multiple myeloma",
}


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if facts.age_below(params.age_adult) or facts.has_condition("PHPT"):
        return None
    if facts.has_recent_dxa():
        return None
    latest = facts.latest_dxa
    names, evidence = _qualifying(facts, params)
    if not names:
        return None
    interval = describe_days(params.dxa_recent_days)

    def render(condition: str) -> str:
        return capitalised(
            f"{condition} is linked to bone loss and there is no DXA in {interval}: "
            "consider bone density testing."
        )

    if (dxa := latest_dxa_evidence(facts)) is not None:
        evidence.append(dxa)
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        bounded_summary(render, names),
        why=(
            f"Condition(s) linked to bone loss: {', '.join(names)}; "
            f"{_dxa_text(latest)} (look-back {params.dxa_recent_days} days)."
        ),
        evidence=evidence,
        references=[ISCD, AACE_2020, KDIGO_CKD_MBD_2017],
        suggestions=[orderables.DXA],
        notes=[
            "Add the distal 1/3 radius if the spine or hip cannot be interpreted.",
            "Consider the secondary-cause laboratory work-up (calcium, phosphate, creatinine/eGFR, "
            "25-OH vitamin D).",
        ],
        data={"conditions": ", ".join(names)},
    )


def _qualifying(facts: Facts, params: Parameters) -> tuple[list[str], list[Evidence]]:
    """The qualifying conditions (names in specification order) and their records."""
    names: list[str] = []
    evidence: list[Evidence] = []
    # Most patients have no Condition or Procedure at all: then no set needs looking up.
    records = bool(facts.s.conditions or facts.s.procedures)
    # The 18-year floor is the adult gate itself: it holds when the age is unknown (1.1).
    for code_set, name in ADULT_CONDITIONS.items() if records else ():
        if found := facts.conditions(code_set):
            names.append(name)
            evidence += [condition_evidence(c) for c in found]
    for code_set, name in ADULT_HISTORY.items() if records else ():
        rows = [condition_evidence(c, "History") for c in facts.conditions(code_set, active=False)]
        rows += [
            Evidence(p.reference, f"Procedure: {p.display}", effective=p.performed)
            for p in facts.s.procedures
            if code_set in p.sets
        ]
        if rows:
            names.append(name)
            evidence += rows
    if not facts.age_at_least(params.age_condition_floor):
        return names, evidence
    for code_set, name in OLDER_CONDITIONS.items() if records else ():
        if found := facts.conditions(code_set):
            names.append(name)
            evidence += [condition_evidence(c) for c in found]
    if facts.ckd_at_least("G3a"):
        names.append(f"CKD {facts.ckd_stage}")
        evidence.extend(ckd_evidence(facts))
    return names, evidence


def _dxa_text(latest: datetime | None) -> str:
    return "no DXA on record" if latest is None else f"latest DXA {fmt_date(latest)}"


RULE = Rule(RULE_ID, "C9", evaluate)
