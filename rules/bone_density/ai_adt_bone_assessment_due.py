"""C5 `ai-adt-bone-assessment-due`: aromatase inhibitor or androgen deprivation and no recent DXA.

Aromatase inhibitors (breast cancer) and GnRH agonists/antagonists (prostate cancer) lower sex
steroids and add to fracture risk; ASCO 2019 recommends a baseline central DXA when such therapy is
started with a risk factor, and repeat assessment while it continues. Antiandrogens (bicalutamide)
count only when the site enables them (`include_antiandrogens`).

The drug must be current (patient-view, batch) or the draft order under evaluation (order hooks,
`warning`). The DXA is due with the formula of C4: none on record, or the latest older than
max(S − 365 d, T − 730 d), S = start of the drug-class episode (a new draft: S = T). Patients under 18
(e.g. GnRH analogues for central precocious puberty) are excluded.
"""

from __future__ import annotations

from datetime import datetime

from rules import orderables
from rules.bone_density.dxa_due import (
    DxaDue,
    dxa_due,
    dxa_due_note,
    episode_start,
    ingredient_name,
    latest_dxa_evidence,
)
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator
from rules.guidelines import ASCO_2019
from rules.params import Parameters
from rules.presentation import make_finding, medication_evidence
from rules.rule import Rule
from rules.snapshot import MedicationExposure
from rules.windows import fmt_date

RULE_ID = "ai-adt-bone-assessment-due"
LABELS = {"AI": "Aromatase inhibitor", "GNRH": "GnRH agonist/antagonist", "ANTIANDROGEN": "Antiandrogen"}


def drug_classes(params: Parameters) -> tuple[str, ...]:
    return ("AI", "GNRH", "ANTIANDROGEN") if params.include_antiandrogens else ("AI", "GNRH")


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if facts.age_below(params.age_adult):
        return None
    for drug_class in drug_classes(params):
        for med in _triggers(facts, drug_class):
            start = episode_start(facts, facts.medications(drug_class), with_draft=med.is_draft)
            due = dxa_due(facts, params, start)
            if due is not None:
                return _finding(facts, drug_class, med, start, due)
    return None


def _triggers(facts: Facts, drug_class: str) -> list[MedicationExposure]:
    """The draft orders on order hooks (only they trigger there), else the current records."""
    if facts.hook.is_order_hook:
        return facts.drafts_of(drug_class)
    return sorted(facts.current(drug_class), key=lambda m: m.reference)


def _finding(
    facts: Facts, drug_class: str, med: MedicationExposure, start: datetime | None, due: DxaDue
) -> Finding:
    drug = ingredient_name(med)
    summary = f"{drug} increases fracture risk; no DXA in {due.interval}: order baseline bone density."
    where = "Draft order" if med.is_draft else "Current"
    evidence: list[Evidence] = [
        medication_evidence(med, f"{where} {LABELS[drug_class].lower()}", with_dose=True)
    ]
    if (dxa := latest_dxa_evidence(facts)) is not None:
        evidence.append(dxa)
    episode = f"; the episode started {fmt_date(start)}" if start is not None else ""
    return make_finding(
        RULE_ID,
        Indicator.WARNING if facts.hook.is_order_hook else Indicator.INFO,
        summary,
        why=f"{LABELS[drug_class]} {med.display} is {where.lower()}{episode}.",
        evidence=evidence,
        references=[ASCO_2019],
        suggestions=[orderables.DXA],
        notes=[
            dxa_due_note(due),
            "Assess fracture risk (e.g. FRAX); ensure calcium and vitamin D intake.",
            "Consider a bisphosphonate or denosumab at osteoporosis doses if indicated.",
        ],
        data={"drug": drug, "class": drug_class},
    )


RULE = Rule(RULE_ID, "C5", evaluate)
