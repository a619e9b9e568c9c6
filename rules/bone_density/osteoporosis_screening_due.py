"""C8 `osteoporosis-screening-due`: a woman of 65 or more who has never had a DXA.

USPSTF 2025 recommends screening women aged 65 and over (grade B); for men the evidence is
insufficient (I statement), so men, and patients whose sex is other or unknown, never get this
card (RULES.md 1.1). An unknown age never passes the age test. The card is for women with no
DXA-on-record ever (2.2), no osteoporosis status (3.6) and no osteoporosis medication ever on
record, whatever its status or date. Records with an ignored status (1.3) are not "on record".
Postmenopausal women under 65 need a risk tool and are out of scope. The engine suppresses this
generic reminder when a more specific DXA card fires (1.5).
"""

from __future__ import annotations

from rules import orderables
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator
from rules.guidelines import USPSTF_2025
from rules.params import Parameters
from rules.presentation import make_finding
from rules.rule import Rule

RULE_ID = "osteoporosis-screening-due"

# RULES.md 1.3: these statuses neither trigger nor satisfy a rule.
IGNORED_STATUSES = frozenset({"entered-in-error", "cancelled", "not-taken", "unknown", "draft"})


def has_op_therapy_on_record(facts: Facts) -> bool:
    return any(m.status not in IGNORED_STATUSES and not m.is_draft for m in facts.medications("OP_THERAPY"))


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if not facts.is_female or not facts.age_at_least(params.age_screening_female):
        return None
    if facts.latest_dxa is not None or facts.osteoporosis or has_op_therapy_on_record(facts):
        return None
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        f"Woman aged {facts.age} with no bone density test on record: osteoporosis screening is recommended.",
        why=(
            f"Female, aged {facts.age} (≥ {params.age_screening_female}), with no DXA on record, "
            "no osteoporosis diagnosis and no osteoporosis medication on record."
        ),
        evidence=[
            Evidence(reference=facts.s.patient, label="Age at evaluation", value=facts.age, unit="years"),
        ],
        references=[USPSTF_2025],
        suggestions=[orderables.DXA],
        notes=["Assess fracture risk (e.g. FRAX) alongside the DXA."],
    )


RULE = Rule(RULE_ID, "C8", evaluate)
