"""A5 `drug-associated-hypercalcemia`: high calcium while exposed to a thiazide or lithium.

Thiazides reduce urinary calcium excretion and lithium shifts the PTH set-point; both raise
calcium (and with lithium, PTH) and confound the diagnosis of primary hyperparathyroidism (Fifth
International Workshop 2022; SNOMED 361128007 "hyperparathyroidism caused by lithium therapy").
Exposure = current, or ended within DRUG_HYPERCA (90) days. PTH is not required. This card
replaces A3 and may fire alongside A1 (no PTH) or A4 (suppressed PTH).
"""

from __future__ import annotations

from rules import orderables
from rules.facts import Facts
from rules.findings import Finding, Indicator, Suggestion
from rules.guidelines import PHPT_WORKSHOP_2022
from rules.params import Parameters
from rules.parathyroid.common import (
    calcium_caveats,
    culprit_name,
    exposure_evidence,
    hypercalcemic_drugs,
    index_calcium_text,
    lab_evidence_rows,
    paired_pth,
)
from rules.presentation import bounded_summary, calcium_display, make_finding, unique_suggestions
from rules.rule import Rule

RULE_ID = "drug-associated-hypercalcemia"

THIAZIDE_ADVICE = (
    "Thiazide: if clinically safe, stop it and re-check calcium and PTH after about 3 months; "
    "persisting PTH-dependent hypercalcemia then suggests primary hyperparathyroidism."
)
LITHIUM_ADVICE = (
    "Lithium: check PTH, calcium and creatinine; discuss with psychiatry/endocrinology. "
    "Do not stop lithium without the prescriber."
)


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    ca = facts.calcium
    if ca is None or not facts.ca_high:
        return None
    drugs = hypercalcemic_drugs(facts, params)
    if not drugs:
        return None
    classes = sorted({drug_class for drug_class, _ in drugs})
    names = list(dict.fromkeys(culprit_name(m, drug_class) for drug_class, m in drugs))
    value, unit = calcium_display(ca)
    summary = bounded_summary(
        lambda drug: (
            f"High calcium {value} {unit} while taking {drug}: review drug effect and recheck Ca and PTH."
        ),
        names,
    )
    pth = paired_pth(facts, ca, params)
    caveats, caveat_orders = calcium_caveats(facts, ca, params)
    notes = []
    if "THIAZIDE" in classes:
        notes.append(THIAZIDE_ADVICE)
    if "LITHIUM" in classes:
        notes.append(LITHIUM_ADVICE)
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        summary,
        why=(
            f"{index_calcium_text(ca)} is above the upper reference limit with "
            f"{' and '.join(names)} current or stopped within {params.drug_hyperca_days} days."
        ),
        evidence=lab_evidence_rows(ca, pth) + [exposure_evidence(facts, m) for _, m in drugs],
        references=[PHPT_WORKSHOP_2022],
        suggestions=_suggestions(classes, caveat_orders),
        notes=notes + caveats,
        data={"drugs": ", ".join(names), "classes": ",".join(classes)},
    )


def _suggestions(classes: list[str], caveat_orders: list[Suggestion]) -> list[Suggestion]:
    orders = [orderables.CALCIUM, orderables.ALBUMIN, orderables.PTH, *caveat_orders]
    if "LITHIUM" in classes:
        orders += [
            orderables.CREATININE,
            orderables.referral("Discuss with psychiatry/endocrinology (lithium)"),
        ]
    return unique_suggestions(orders)


RULE = Rule(RULE_ID, "A5", evaluate)
